import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit } from "effect"
import { SessionStoreError } from "../src/errors.ts"
import * as Journal from "../src/Journal.ts"
import type { StoreChange } from "../src/SessionStore.ts"

const add = (packetId: number): StoreChange => ({ _tag: "AddIncoming", packetId })

describe("Journal", () => {
  it("a synchronous store: each step goes on at once, in order, with no fiber left behind", () => {
    const stored: Array<number> = []
    const order: Array<string> = []
    const journal = Journal.make(
      (changes) => Effect.sync(() => void stored.push(...changes.map((c) => (c._tag === "AddIncoming" ? c.packetId : 0)))),
      Effect.runFork
    )
    journal.submit([add(1)], () => order.push("1"))
    journal.submit([], () => order.push("empty"))
    journal.submit([add(2)], () => order.push("2"))
    assert.deepStrictEqual(order, ["1", "empty", "2"], "all ran synchronously")
    assert.deepStrictEqual(stored, [1, 2])
    assert.isTrue(journal.idle())
  })

  it("a store with a synchronous write (the memory store's): no fiber is started, steps go on at once", () => {
    const stored: Array<number> = []
    const order: Array<string> = []
    let forks = 0
    const journal = Journal.make(
      () => Effect.die("apply must not run"),
      (effect) => {
        forks++
        return Effect.runFork(effect)
      },
      (changes) => void stored.push(...changes.map((c) => (c._tag === "AddIncoming" ? c.packetId : 0)))
    )
    journal.submit([add(1)], () => order.push("1"))
    journal.submit([], () => order.push("empty"))
    journal.submit([add(2)], () => order.push("2"))
    assert.deepStrictEqual(order, ["1", "empty", "2"])
    assert.deepStrictEqual(stored, [1, 2])
    assert.strictEqual(forks, 0)
  })

  it("an asynchronous store: steps submitted during a write are stored together, then run in order, a step they cause last", () =>
    Effect.runPromise(Effect.gen(function*() {
      const gate = Deferred.makeUnsafe<void>()
      const applies: Array<ReadonlyArray<StoreChange>> = []
      const order: Array<string> = []
      const journal = Journal.make(
        (changes) => Effect.andThen(Effect.sync(() => void applies.push(changes)), Deferred.await(gate)),
        Effect.runFork
      )
      journal.submit([add(1)], () => order.push("1"))
      journal.submit([add(2)], () => {
        order.push("2")
        journal.submit([], () => order.push("caused by 2"))
      })
      journal.submit([], () => order.push("no changes"))
      journal.submit([add(3)], () => order.push("3"))
      assert.isFalse(journal.idle())
      assert.deepStrictEqual(order, [], "nothing goes on before its write")
      Deferred.doneUnsafe(gate, Exit.void)
      yield* journal.flushed
      assert.deepStrictEqual(applies.map((changes) => changes.length), [1, 2], "the three steps behind the first write: one apply")
      assert.deepStrictEqual(order, ["1", "2", "no changes", "3", "caused by 2"])
      assert.isTrue(journal.idle())
    })))

  it("a failure or a defect reaches every step of the batch as a SessionStoreError; the next write goes on", () =>
    Effect.runPromise(Effect.gen(function*() {
      let calls = 0
      const journal = Journal.make(
        () =>
          Effect.suspend(() => {
            calls++
            return calls === 1
              ? Effect.fail(new SessionStoreError({ message: "disk full" }))
              : calls === 2
              ? Effect.die(new Error("the driver threw"))
              : Effect.void
          }),
        Effect.runFork
      )
      const seen: Array<string> = []
      const note = (error: SessionStoreError | undefined) => void seen.push(error === undefined ? "ok" : error.message)
      journal.submit([add(1)], note)
      journal.submit([add(2)], note)
      journal.submit([add(3)], note)
      yield* journal.flushed
      assert.deepStrictEqual(seen, ["disk full", "the driver threw", "ok"])
    })))
})
