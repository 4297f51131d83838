/**
 * Wake.soon: a queue's waiting taker runs at the end of the current task (a microtask), with
 * everything offered during that task, instead of one event-loop turn later.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Queue } from "effect"
import * as Wake from "../src/Wake.ts"

const microtask = () => new Promise<void>((resolve) => queueMicrotask(resolve))
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve))

// Made in an async run: a queue keeps the scheduler of the fiber that made it (`runSync`'s wakes through microtasks).
const makeQueue = () => Effect.runPromise(Queue.unbounded<number>())

/** A fiber waiting in `Queue.takeAll` on a fresh queue, already suspended. */
const waitingTaker = async () => {
  const queue = await makeQueue()
  const taker = Effect.runFork(Queue.takeAll(queue))
  await macrotask()
  assert.isUndefined(taker.pollUnsafe(), "the taker is suspended on the empty queue")
  return { queue, taker }
}

describe("Wake.soon", () => {
  it("without it, an offer releases the taker only in a later event-loop turn (the default)", async () => {
    const { queue, taker } = await waitingTaker()
    Queue.offerUnsafe(queue, 1)
    await microtask()
    assert.isUndefined(taker.pollUnsafe())
    await macrotask()
    assert.deepStrictEqual(await Effect.runPromise(Fiber.join(taker)), [1])
  })

  it("releases the taker before the task ends, with every offer of the task in one batch", async () => {
    const { queue, taker } = await waitingTaker()
    for (const n of [1, 2, 3]) {
      Queue.offerUnsafe(queue, n)
      Wake.soon(queue)
    }
    assert.isUndefined(taker.pollUnsafe(), "nothing runs synchronously inside the offering code")
    await microtask()
    const exit = taker.pollUnsafe()
    assert.isDefined(exit, "released within the microtask checkpoint, no event-loop turn")
    assert.deepStrictEqual(await Effect.runPromise(Fiber.join(taker)), [1, 2, 3])
  })

  it("releases every queue woken in the same task", async () => {
    const a = await waitingTaker()
    const b = await waitingTaker()
    Queue.offerUnsafe(a.queue, 1)
    Wake.soon(a.queue)
    Queue.offerUnsafe(b.queue, 2)
    Wake.soon(b.queue)
    Wake.soon(a.queue)
    await microtask()
    assert.isDefined(a.taker.pollUnsafe())
    assert.isDefined(b.taker.pollUnsafe())
    assert.deepStrictEqual(await Effect.runPromise(Fiber.join(a.taker)), [1])
    assert.deepStrictEqual(await Effect.runPromise(Fiber.join(b.taker)), [2])
  })

  it("is harmless on a queue nobody waits on, and the next task's offers are released again", async () => {
    const queue = await makeQueue()
    Queue.offerUnsafe(queue, 1)
    Wake.soon(queue)
    await microtask()
    assert.deepStrictEqual(Effect.runSync(Queue.takeAll(queue)), [1])
    const taker = Effect.runFork(Queue.takeAll(queue))
    await macrotask()
    Queue.offerUnsafe(queue, 2)
    Wake.soon(queue)
    await microtask()
    assert.deepStrictEqual(await Effect.runPromise(Fiber.join(taker)), [2])
  })
})
