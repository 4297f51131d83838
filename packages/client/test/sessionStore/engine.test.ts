/**
 * The engine against asynchronous and failing session stores (the store contract of SessionStore.ts), with
 * a real broker: a change is durable before the packet it describes leaves, steps keep their order, the
 * steps that pile up during a slow write are stored in one `apply`, a failing store closes the connection
 * without losing the flow, and closing the client lets a pending write finish before the store closes.
 */
import { type ClientSessionStore, memorySessionStore, SessionStore, SessionStoreError, type StoreChange } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Schedule, Scope } from "effect"
import { describeMosquitto, Mosquitto } from "../brokers/index.ts"
import { client, clientIn, record, recordStatus, uniqueId, waitUntil, wireLog } from "../util.ts"

const fast = { reconnect: Schedule.spaced("50 millis"), connectTimeout: "3 seconds", keepAlive: 10 } as const

/** What a store under the test's control does with one `apply`. */
type Behaviour = "store" | "fail" | "die" | "fail-later" | "throw"

/**
 * The memory store behind a gate the test opens, recording every `apply` (its changes, and when it ended)
 * and the store's close. `next` decides what the next `apply` does.
 */
const controlled = () => {
  const applies: Array<{ readonly changes: ReadonlyArray<StoreChange>; ended: boolean }> = []
  const events: Array<string> = []
  let gate: Deferred.Deferred<void> | undefined
  let next: Array<Behaviour> = []
  const inner = memorySessionStore()
  const layer = Layer.succeed(SessionStore, {
    open: (clientId) =>
      Effect.gen(function*() {
        const store = yield* inner.open(clientId)
        yield* Effect.addFinalizer(() => Effect.sync(() => events.push("closed")))
        const wrapped: ClientSessionStore = {
          load: store.load,
          clear: store.clear,
          apply: (changes) => {
            if (next[0] === "throw") {
              // A store written without Effects in mind: it throws instead of returning a failed Effect.
              next.shift()
              applies.push({ changes, ended: true })
              throw new Error("apply threw (test)")
            }
            return Effect.gen(function*() {
              const entry = { changes, ended: false }
              applies.push(entry)
              events.push(`apply ${changes.map((c) => c._tag).join(",")}`)
              const waitFor = gate
              if (waitFor !== undefined) yield* Deferred.await(waitFor)
              const behaviour = next.shift() ?? "store"
              entry.ended = true
              events.push("applied")
              if (behaviour === "fail") return yield* new SessionStoreError({ message: "disk full (test)" })
              if (behaviour === "die") return yield* Effect.die(new Error("the driver threw (test)"))
              if (behaviour === "fail-later") {
                yield* Effect.sleep("5 millis")
                return yield* new SessionStoreError({ message: "disk full, later (test)" })
              }
              yield* store.apply(changes)
            })
          }
        }
        return wrapped
      })
  })
  return {
    applies,
    events,
    layer,
    close: () => {
      gate = Deferred.makeUnsafe<void>()
    },
    open: () => {
      const opened = gate
      gate = undefined
      if (opened !== undefined) Deferred.doneUnsafe(opened, Exit.void)
    },
    failNext: (...behaviours: Array<Behaviour>) => {
      next = behaviours
    }
  }
}

const build = (url: string, store: ReturnType<typeof controlled>, options: Parameters<typeof clientIn>[1] = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const mqtt = yield* clientIn(scope, { url, ...fast, ...options }).pipe(Effect.provide(store.layer))
    return { mqtt, scope }
  })

const publishIds = (log: ReturnType<typeof wireLog>) =>
  log.events.flatMap((e) => e.direction === "sent" && e.packet._tag === "Publish" ? [e.packet.packetId] : [])

describeMosquitto("the engine and an asynchronous session store (mosquitto)", () => {
  it.live("a QoS 1 PUBLISH leaves only once its flow is stored; flows that pile up meanwhile go in one apply, in order", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const store = controlled()
      const log = wireLog()
      const watcher = yield* client(broker.url, { clientId: uniqueId("watch") })
      const got = yield* record((yield* watcher.subscription("journal/#", { qos: 1 })).messages)
      const { mqtt, scope } = yield* build(broker.url, store, { clientId: uniqueId("slow-store"), onPacket: log.onPacket })
      store.close()
      const publishes = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => Effect.forkChild(mqtt.publish(`journal/${i}`, String(i), { qos: 1 }), { startImmediately: true })
      )
      yield* waitUntil(() => store.applies.length === 1, 5000, () => store.events.join("; "))
      yield* Effect.sleep("50 millis") // room for a wrong early send to show
      assert.deepStrictEqual(publishIds(log), [], "nothing is sent while the first flow is being stored")
      assert.strictEqual(store.applies.length, 1, "one apply at a time")
      store.open()
      yield* Effect.forEach(publishes, (fiber) => Fiber.join(fiber), { discard: true })
      const puts = store.applies.map((a) => a.changes.filter((c) => c._tag === "PutOutgoing").length)
      assert.deepStrictEqual(puts.slice(0, 2), [1, 9], "the 9 flows submitted during the first write are stored in one apply")
      const order = store.applies.flatMap((a) => a.changes.flatMap((c) => c._tag === "PutOutgoing" ? [c.flow.packetId] : []))
      assert.deepStrictEqual(publishIds(log), order, "PUBLISHes leave in the order their flows were stored")
      yield* waitUntil(() => got.length === 10, 5000, () => JSON.stringify(got))
      assert.deepStrictEqual(got.map((g) => g.text), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped))

  const described = { fail: "fails", die: "dies", "fail-later": "fails asynchronously", throw: "throws instead of returning an Effect" } as const
  for (const behaviour of ["fail", "die", "fail-later", "throw"] as const) {
    it.live(`a store whose apply ${described[behaviour]}: nothing of the step is sent, the connection closes, the flow completes after the reconnect`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        const store = controlled()
        const log = wireLog()
        const watcher = yield* client(broker.url, { clientId: uniqueId("watch") })
        const got = yield* record((yield* watcher.subscription("failing/#", { qos: 1 })).messages)
        const { mqtt, scope } = yield* build(broker.url, store, { clientId: uniqueId("failing-store"), onPacket: log.onPacket })
        const statuses = yield* recordStatus(mqtt)
        store.failNext(behaviour)
        const result = yield* mqtt.publish("failing/1", "kept", { qos: 1 }).pipe(Effect.timeout("10 seconds"))
        assert.isDefined(result)
        const connects = log.events.filter((e) => e.direction === "sent" && e.packet._tag === "Connect").length
        assert.strictEqual(connects, 2, `reconnected once: ${log.timeline()}`)
        const firstPublish = log.events.findIndex((e) => e.direction === "sent" && e.packet._tag === "Publish")
        const secondConnect = log.events.findIndex((e, i) => e.direction === "sent" && e.packet._tag === "Connect" && i > 0)
        assert.isAbove(firstPublish, secondConnect, `the PUBLISH left only on the second connection: ${log.timeline()}`)
        yield* waitUntil(() => got.length === 1, 5000, () => JSON.stringify(got))
        assert.deepStrictEqual(got.map((g) => g.text), ["kept"])
        const lost = statuses.flatMap((s) => s._tag === "Disconnected" && s.cause?._tag === "ConnectionLost" ? [s.cause.message] : [])
        assert.strictEqual(lost.length, 1, JSON.stringify(statuses.map((s) => s._tag)))
        assert.include(lost[0], "the session store failed")
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.scoped))
  }

  it.live("an incoming QoS 2 message reaches the stream only once its packet id is stored, and PUBREC follows", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const store = controlled()
      const log = wireLog()
      const { mqtt, scope } = yield* build(broker.url, store, { clientId: uniqueId("slow-in"), onPacket: log.onPacket })
      const got = yield* record((yield* mqtt.subscription("incoming/#", { qos: 2 })).messages)
      store.close()
      const publisher = yield* client(broker.url, { clientId: uniqueId("pub") })
      yield* Effect.forkChild(publisher.publish("incoming/1", "once", { qos: 2 }), { startImmediately: true })
      yield* waitUntil(() => store.applies.some((a) => a.changes.some((c) => c._tag === "AddIncoming")), 5000, () => store.events.join("; "))
      yield* Effect.sleep("50 millis") // room for a wrong early delivery to show
      assert.deepStrictEqual(got, [], "not delivered before the id is stored")
      assert.strictEqual(log.count("sent", "Pubrec"), 0, "no PUBREC before the id is stored")
      store.open()
      yield* waitUntil(() => got.length === 1 && log.count("sent", "Pubcomp") === 1, 5000, () => log.timeline())
      assert.deepStrictEqual(got.map((g) => g.text), ["once"])
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.scoped))

  it.live("closing the client while a write is pending: the write completes before the store closes", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const store = controlled()
      const { mqtt, scope } = yield* build(broker.url, store, { clientId: uniqueId("closing") })
      store.close()
      const publishing = yield* Effect.forkChild(Effect.exit(mqtt.publish("closing/1", "x", { qos: 1 })), { startImmediately: true })
      yield* waitUntil(() => store.applies.length === 1, 5000, () => store.events.join("; "))
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void), { startImmediately: true })
      yield* Effect.sleep("50 millis")
      assert.notInclude(store.events, "closed", "the store stays open while its write is pending")
      store.open()
      yield* Fiber.join(closing).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(store.events.slice(-2), ["applied", "closed"], store.events.join("; "))
      const exit = yield* Fiber.join(publishing)
      assert.isTrue(Exit.isFailure(exit), "the publish settles (the client closed before PUBACK)")
    }).pipe(Effect.scoped))

  for (const failing of ["load", "clear", "open throws", "load dies"] as const) {
    it.live(`a store whose ${failing === "load" || failing === "clear" ? `${failing} fails` : failing}: the layer fails with ConnectError caused by SessionStoreError`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        const layer = Layer.succeed(SessionStore, {
          open: () => {
            if (failing === "open throws") throw new Error("read-only (test): open threw")
            return Effect.succeed<ClientSessionStore>({
              load: failing === "load"
                ? Effect.fail(new SessionStoreError({ message: "unreadable (test)" }))
                : failing === "load dies"
                ? Effect.die(new Error("unreadable (test): load died"))
                : Effect.succeed({ outgoing: [], incoming: [] }),
              clear: failing === "clear" ? Effect.fail(new SessionStoreError({ message: "read-only (test)" })) : Effect.void,
              apply: () => Effect.void
            })
          }
        })
        const error = yield* Effect.flip(
          client(broker.url, { ...fast, clientId: uniqueId("bad-store"), cleanSession: failing === "clear" || failing === "open throws" }).pipe(Effect.provide(layer))
        )
        assert.strictEqual(error._tag, "ConnectError")
        assert.instanceOf(error.cause, SessionStoreError)
        assert.include(error.message, failing.startsWith("load") ? "unreadable" : "read-only")
        assert.isFalse(error.isRetryable, "a store that cannot open needs attention")
      }).pipe(Effect.scoped))
  }
})
