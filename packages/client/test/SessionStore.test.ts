import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as FileSessionStore from "../src/FileSessionStore.ts"
import { Session } from "../src/Session.ts"
import { memory, type StoreChange } from "../src/SessionStore.ts"
import { tempDir } from "./util.ts"

const payload = new Uint8Array([1, 2, 3])
const publish = (qos: 0 | 1 | 2) => ({ _tag: "Publish" as const, topic: "t", payload, qos, retain: false })
const tags = (changes: ReadonlyArray<StoreChange>) => changes.map((change) => change._tag)

describe("Session store changes", () => {
  it("a QoS 1 flow is put when sent and deleted when acknowledged; QoS 0 stores nothing", () => {
    const session = new Session<string>({ maxInflight: 10, maxQueued: 10 })
    session.connected(false, [])
    assert.deepStrictEqual(tags((session.request(publish(0), "a") as { changes: Array<StoreChange> }).changes), [])
    const sent = session.request(publish(1), "b")
    assert.notStrictEqual(sent, "full")
    if (sent === "full") return
    assert.deepStrictEqual(tags(sent.changes), ["PutOutgoing"])
    const put = sent.changes[0]
    assert.deepInclude(put?._tag === "PutOutgoing" ? put.flow : {}, { packetId: 1, stage: "sent", topic: "t", qos: 1 })
    assert.deepStrictEqual(tags(session.received({ _tag: "Puback", packetId: 1 }).changes), ["DeleteOutgoing"])
  })

  it("a QoS 2 flow is stored again as released on PUBREC, deleted on PUBCOMP", () => {
    const session = new Session<string>({ maxInflight: 10, maxQueued: 10 })
    session.connected(false, [])
    session.request(publish(2), "a")
    const pubrec = session.received({ _tag: "Pubrec", packetId: 1 })
    assert.deepStrictEqual(tags(pubrec.changes), ["PutOutgoing"])
    assert.strictEqual(pubrec.changes[0]?._tag === "PutOutgoing" && pubrec.changes[0].flow.stage, "released")
    assert.deepStrictEqual(tags(session.received({ _tag: "Pubrec", packetId: 1 }).changes), []) // a repeat changes nothing
    assert.deepStrictEqual(tags(session.received({ _tag: "Pubcomp", packetId: 1 }).changes), ["DeleteOutgoing"])
  })

  it("incoming QoS 2 ids are stored before delivery and forgotten on PUBREL; a lost session clears them", () => {
    const session = new Session<string>({ maxInflight: 10, maxQueued: 10 })
    session.connected(false, [])
    const incoming = { _tag: "Publish" as const, topic: "t", payload, qos: 2 as const, retain: false, dup: false, packetId: 9 }
    const first = session.received(incoming)
    assert.deepStrictEqual(tags(first.changes), ["AddIncoming"])
    assert.isDefined(first.deliver)
    assert.deepStrictEqual(tags(session.received({ _tag: "Pubrel", packetId: 9 }).changes), ["DeleteIncoming"])
    session.received({ ...incoming, packetId: 10 })
    session.disconnected()
    assert.deepStrictEqual(tags(session.connected(false, []).changes), ["ClearIncoming"])
  })

  it("restore resumes stored flows on the next connect, with DUP when the broker kept the session", () => {
    const session = new Session<string>({ maxInflight: 10, maxQueued: 10 })
    session.restore({
      outgoing: [
        { packetId: 7, stage: "sent", topic: "a", payload, qos: 1, retain: false },
        { packetId: 8, stage: "released", topic: "b", payload, qos: 2, retain: true }
      ],
      incoming: [3]
    })
    const step = session.connected(true, [])
    assert.deepStrictEqual(step.send.map((p) => [p._tag, "packetId" in p ? p.packetId : 0, p._tag === "Publish" ? p.dup : undefined]), [
      ["Publish", 7, true],
      ["Pubrel", 8, undefined]
    ])
    assert.isTrue(session.incomingQos2.has(3))
    const next = session.request(publish(1), "x") // a new flow never reuses a restored id
    if (next !== "full") assert.strictEqual(next.send[0]?._tag === "Publish" && next.send[0].packetId, 9)
    assert.deepStrictEqual(tags(session.received({ _tag: "Puback", packetId: 7 }).changes), ["DeleteOutgoing"])
  })
})

const flow = (packetId: number, stage: "sent" | "released" = "sent") =>
  ({ packetId, stage, topic: `t/${packetId}`, payload: new Uint8Array([packetId]), qos: 2, retain: false }) as const

describe("stores", () => {
  it.effect("memory: survives reopening in the same process; clear forgets", () =>
    Effect.gen(function*() {
      const store = memory()
      const a = yield* store.open("c1")
      yield* a.apply([{ _tag: "PutOutgoing", flow: flow(1) }, { _tag: "AddIncoming", packetId: 5 }])
      const again = yield* store.open("c1")
      assert.deepStrictEqual((yield* again.load).outgoing.map((f) => f.packetId), [1])
      assert.deepStrictEqual((yield* again.load).incoming, [5])
      assert.deepStrictEqual(yield* (yield* store.open("other")).load, { outgoing: [], incoming: [] })
      yield* again.clear
      assert.deepStrictEqual(yield* (yield* store.open("c1")).load, { outgoing: [], incoming: [] })
      // The store opened before the clear writes into the cleared state, which later opens see.
      yield* a.apply([{ _tag: "AddIncoming", packetId: 6 }])
      assert.deepStrictEqual(yield* (yield* store.open("c1")).load, { outgoing: [], incoming: [6] })
    }))

  it.effect("file: a reopened store has what was applied, in order, payload bytes included", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("aimeqtt-store-")
      const store = FileSessionStore.make(dir)
      yield* Effect.scoped(Effect.gen(function*() {
        const s = yield* store.open("meter/17")
        yield* s.apply([{ _tag: "PutOutgoing", flow: flow(2) }, { _tag: "PutOutgoing", flow: flow(1) }])
        yield* s.apply([{ _tag: "PutOutgoing", flow: flow(2, "released") }, { _tag: "AddIncoming", packetId: 4 }, { _tag: "AddIncoming", packetId: 6 }])
        yield* s.apply([{ _tag: "DeleteIncoming", packetId: 4 }])
      }))
      const reopened = yield* Effect.scoped(Effect.flatMap(store.open("meter/17"), (s) => s.load))
      assert.deepStrictEqual(reopened.outgoing.map((f) => [f.packetId, f.stage, [...f.payload]]), [[2, "released", [2]], [1, "sent", [1]]])
      assert.deepStrictEqual(reopened.incoming, [6])
    }))

  it.effect("file: a torn last line (crash mid-append) is skipped", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("aimeqtt-store-")
      const store = FileSessionStore.make(dir)
      yield* Effect.scoped(Effect.flatMap(store.open("c"), (s) => s.apply([{ _tag: "PutOutgoing", flow: flow(1) }])))
      Fs.appendFileSync(Path.join(dir, FileSessionStore.fileName("c")), '{"op":"put","id":2,"sta')
      const loaded = yield* Effect.scoped(Effect.flatMap(store.open("c"), (s) => s.load))
      assert.deepStrictEqual(loaded.outgoing.map((f) => f.packetId), [1])
    }))

  it.effect("file: a damaged line before the last (not a crash) fails open with SessionStoreError naming the line; the file is kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("aimeqtt-store-")
      const store = FileSessionStore.make(dir)
      const file = Path.join(dir, FileSessionStore.fileName("c"))
      yield* Effect.scoped(Effect.flatMap(store.open("c"), (s) => s.apply([{ _tag: "PutOutgoing", flow: flow(1) }])))
      for (const damage of ["GARBAGE{{{", '{"op":"put","id":"x"}', '{"op":"nope","id":3}']) {
        const good = Fs.readFileSync(file, "utf8")
        Fs.writeFileSync(file, `${damage}\n${good}`)
        const error = yield* Effect.flip(Effect.scoped(store.open("c")))
        assert.strictEqual(error._tag, "SessionStoreError")
        assert.include(error.message, "is damaged at line 1")
        assert.strictEqual(Fs.readFileSync(file, "utf8"), `${damage}\n${good}`, "the damaged file is left as it was")
        Fs.writeFileSync(file, good)
      }
      // a damaged line in the middle too
      const good = Fs.readFileSync(file, "utf8")
      Fs.writeFileSync(file, `${good}GARBAGE\n${good}`)
      assert.include((yield* Effect.flip(Effect.scoped(store.open("c")))).message, "at line 2")
    }))

  it.effect("file: the log is compacted when opened", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("aimeqtt-store-")
      const store = FileSessionStore.make(dir)
      yield* Effect.scoped(Effect.gen(function*() {
        const s = yield* store.open("c")
        for (let i = 1; i <= 200; i++) yield* s.apply([{ _tag: "PutOutgoing", flow: flow(i) }, { _tag: "DeleteOutgoing", packetId: i }])
        yield* s.apply([{ _tag: "PutOutgoing", flow: flow(7) }])
      }))
      assert.strictEqual(Fs.readFileSync(Path.join(dir, FileSessionStore.fileName("c")), "utf8").trim().split("\n").length, 401)
      yield* Effect.scoped(store.open("c"))
      assert.strictEqual(Fs.readFileSync(Path.join(dir, FileSessionStore.fileName("c")), "utf8").trim().split("\n").length, 1)
    }))

  it.effect("file: a log of an earlier version (named after the bare client id) is read and moved to the new name", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("aimeqtt-store-")
      const line = JSON.stringify({ op: "put", id: 4, stage: "released", topic: "t/4", payload: "BA==", qos: 2, retain: false })
      Fs.writeFileSync(Path.join(dir, "meter%2F17.log"), `${line}\n{"op":"in","id":9}\n`)
      const loaded = yield* Effect.scoped(Effect.flatMap(FileSessionStore.make(dir).open("meter/17"), (s) => s.load))
      assert.deepStrictEqual(loaded.outgoing.map((f) => [f.packetId, f.stage, [...f.payload]]), [[4, "released", [4]]])
      assert.deepStrictEqual(loaded.incoming, [9])
      assert.deepStrictEqual(Fs.readdirSync(dir), [FileSessionStore.fileName("meter/17")])
      const again = yield* Effect.scoped(Effect.flatMap(FileSessionStore.make(dir).open("meter/17"), (s) => s.load))
      assert.deepStrictEqual(again, loaded)
    }))

  it.effect("file: an unusable directory fails with SessionStoreError, no exception", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("aimeqtt-store-")
      const blocker = Path.join(dir, "not-a-dir")
      Fs.writeFileSync(blocker, "x")
      const error = yield* Effect.flip(Effect.scoped(FileSessionStore.make(Path.join(blocker, "sub")).open("c")))
      assert.strictEqual(error._tag, "SessionStoreError")
    }))
})
