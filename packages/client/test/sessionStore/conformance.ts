/**
 * The conformance suite every session store must pass (the pattern of MQTT.js's abstract store tests):
 * `conformance(store)` registers the tests for one store. The contract is the TSDoc of `SessionStoreShape`
 * and `ClientSessionStore` in `src/SessionStore.ts`; the reference model is its `SessionState`.
 *
 * The tests keep the engine's promises to a store: for one client, `apply` and `clear` never run
 * concurrently, and `load` runs once, right after `open`.
 *
 * A "restart" closes the scope of the open store without writing anything more and opens the client on a
 * new store instance over the same storage; a "crash" opens the new instance while the old one is still
 * open (its scope closes only when the test ends), as a killed process leaves it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import fc from "fast-check"
import type { SessionStoreError } from "../../src/errors.ts"
import {
  type ClientSessionStore,
  type PublishProperties,
  SessionState,
  type SessionStoreShape,
  type StoreChange,
  type StoredFlow,
  type StoredSession
} from "../../src/SessionStore.ts"

/** A store as the suite tests it. */
export interface StoreUnderTest {
  readonly name: string
  /**
   * `true` when the store survives a process restart (file, SQLite, IndexedDB): `make` then builds a new
   * instance over the same storage. `false` for the memory store, whose "restart" reuses the instance.
   */
  readonly durable: boolean
  /** Fresh, empty storage for one test (a temp dir, a new database), released when the test's scope closes. */
  readonly storage: Effect.Effect<TestStorage, never, Scope.Scope>
  /**
   * Names of tests this store is known to fail (bugs not fixed yet). They run as `it.fails`, so the fix
   * shows up as a failure that asks for the entry's removal.
   */
  readonly knownFailures?: ReadonlyArray<string>
  /** Number of runs of the property test (default 40). */
  readonly propertyRuns?: number
}

/** The storage of one test. */
export interface TestStorage {
  /**
   * A store over this storage, as a newly started process would build it. A memory store returns the
   * same instance every time.
   */
  readonly make: Effect.Effect<SessionStoreShape>
  /** Ways to damage the stored data, for stores that have a representation on disk. */
  readonly corrupt?: Corruption
}

/** Damage done to a store's data between two runs (the store is closed while it happens). */
export interface Corruption {
  /**
   * Leaves a partial record after the client's last one, as a crash in the middle of a write would (for
   * stores whose writes can tear, such as an append-only file). The next `load` must skip it.
   */
  readonly tornWrite?: (clientId: string) => Effect.Effect<void>
  /**
   * Damages one stored record of the client (e.g. malformed properties). The next `open`/`load` must skip
   * it or fail with `SessionStoreError`; other clients' data must still load.
   */
  readonly damageRecord?: (clientId: string) => Effect.Effect<void>
  /** Replaces all stored data with bytes that are not the store's format. */
  readonly replaceWithGarbage?: Effect.Effect<void>
}

// --- fixtures -------------------------------------------------------------------------------------------

export const flow = (packetId: number, over: Partial<StoredFlow> = {}): StoredFlow => ({
  packetId,
  stage: "sent",
  topic: `t/${packetId}`,
  payload: Uint8Array.of(packetId & 0xff, packetId >> 8),
  qos: 2,
  retain: false,
  ...over
})
export const put = (f: StoredFlow): StoreChange => ({ _tag: "PutOutgoing", flow: f })
export const del = (packetId: number): StoreChange => ({ _tag: "DeleteOutgoing", packetId })
export const addIn = (packetId: number): StoreChange => ({ _tag: "AddIncoming", packetId })
export const delIn = (packetId: number): StoreChange => ({ _tag: "DeleteIncoming", packetId })
export const clearIn: StoreChange = { _tag: "ClearIncoming" }

/** A session in a form `deepStrictEqual` compares well: bytes as hex, incoming ids sorted (a set). */
const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")
const normalProperties = (p: PublishProperties | undefined) => {
  if (p === undefined || Object.keys(p).length === 0) return undefined
  const { correlationData, ...rest } = p
  return correlationData === undefined ? rest : { ...rest, correlationData: hex(correlationData) }
}
const normalFlow = (f: StoredFlow) => ({
  packetId: f.packetId,
  stage: f.stage,
  topic: f.topic,
  payload: hex(f.payload),
  qos: f.qos,
  retain: f.retain,
  properties: normalProperties(f.properties)
})
export const normal = (s: StoredSession) => ({
  outgoing: s.outgoing.map(normalFlow),
  incoming: [...s.incoming].sort((a, b) => a - b)
})

/** The reference model: `SessionState` with the same changes applied. */
class Model {
  readonly state = new SessionState()
  apply(changes: ReadonlyArray<StoreChange>): void {
    for (const change of changes) this.state.apply(change)
  }
  clear(): void {
    this.state.clear()
  }
  snapshot(): StoredSession {
    return this.state.snapshot()
  }
}

// --- opening and restarting ------------------------------------------------------------------------------

interface Opened {
  readonly store: ClientSessionStore
  /** What `load` returned right after `open`. */
  readonly loaded: StoredSession
  /** Closes the store's scope (a clean shutdown). */
  readonly close: Effect.Effect<void>
}

/**
 * Opens `clientId` on `shape` in a scope of its own (closed at the latest when the test ends) and loads it
 * once, as the engine does.
 */
const openOn = (shape: SessionStoreShape, clientId: string): Effect.Effect<Opened, SessionStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const result = yield* Effect.exit(Effect.gen(function*() {
      const store = yield* shape.open(clientId).pipe(Scope.provide(scope))
      const loaded = yield* store.load
      return { store, loaded }
    }))
    if (Exit.isFailure(result)) {
      yield* Scope.close(scope, Exit.void)
      return yield* Effect.failCause(result.cause)
    }
    return { ...result.value, close: Scope.close(scope, Exit.void) }
  })

/** Opens `clientId` on a new store instance over `storage` (a new process). */
const openNew = (storage: TestStorage, clientId: string) => Effect.flatMap(storage.make, (shape) => openOn(shape, clientId))

/** What a new process loads for `clientId` (opened, loaded and closed). */
const reload = (storage: TestStorage, clientId: string): Effect.Effect<StoredSession, SessionStoreError> =>
  Effect.scoped(Effect.map(openNew(storage, clientId), (opened) => opened.loaded))

const assertSession = (actual: StoredSession, expected: StoredSession, message?: string) =>
  assert.deepStrictEqual(normal(actual), normal(expected), message)

/** True when `exit` succeeded, or failed with SessionStoreError only (no defect, no interruption). */
const assertSuccessOrStoreError = <A>(exit: Exit.Exit<A, SessionStoreError>): A | undefined => {
  if (Exit.isSuccess(exit)) return exit.value
  assert.isFalse(Cause.hasDies(exit.cause), `a defect instead of SessionStoreError: ${Cause.pretty(exit.cause)}`)
  assert.isFalse(Cause.hasInterrupts(exit.cause), `interrupted: ${Cause.pretty(exit.cause)}`)
  const error = Cause.findErrorOption(exit.cause)
  assert.strictEqual(error._tag === "Some" ? error.value._tag : "none", "SessionStoreError")
  return undefined
}

/** The bytes 0..255, a deterministic pseudo-random MiB, and nothing. */
const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)
const mebibyte = (() => {
  const bytes = new Uint8Array(1024 * 1024)
  let x = 0x12345678
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
})()

const fullProperties: PublishProperties = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 4294967295,
  contentType: "application/json; charset=utf-8",
  responseTopic: "reply/ü/😀",
  correlationData: allBytes,
  userProperties: [["a", "1"], ["a", "2"], ["", ""], ["ключ", "значение 😀"], ["b", "\u0001\n\"'\\"]]
}

// --- the crash points of each QoS flow ------------------------------------------------------------------

interface Flow {
  readonly name: string
  /** Each step's changes, as the engine applies them; `points` name the steps after which to restart. */
  readonly steps: ReadonlyArray<{ readonly point: string; readonly changes: ReadonlyArray<StoreChange> }>
}

const qos1: StoredFlow = flow(11, { qos: 1, topic: "q1/a", payload: Uint8Array.of(1, 0, 1) })
const qos2: StoredFlow = flow(22, { topic: "q2/a", payload: Uint8Array.of(2, 0, 2), retain: true, properties: fullProperties })

const flows: ReadonlyArray<Flow> = [
  {
    name: "QoS 1 outgoing",
    steps: [
      { point: "the PUBLISH was stored (put)", changes: [put(qos1)] },
      { point: "the PUBACK was stored (delete)", changes: [del(11)] }
    ]
  },
  {
    name: "QoS 2 outgoing",
    steps: [
      { point: "the PUBLISH was stored (put, sent)", changes: [put(qos2)] },
      { point: "the PUBREC was stored (re-put, released)", changes: [put({ ...qos2, stage: "released" })] },
      { point: "the PUBCOMP was stored (delete)", changes: [del(22)] }
    ]
  },
  {
    name: "QoS 2 incoming",
    steps: [
      { point: "a PUBLISH was stored (AddIncoming)", changes: [addIn(7), addIn(8)] },
      { point: "its PUBREL was stored (DeleteIncoming)", changes: [delIn(7)] },
      { point: "a lost session was stored (ClearIncoming)", changes: [clearIn] }
    ]
  }
]

// --- the suite -------------------------------------------------------------------------------------------

/** Registers the conformance tests of `store`. */
export const conformance = (store: StoreUnderTest): void => {
  const known = new Set(store.knownFailures ?? [])
  const seen = new Set<string>()
  const test = (
    name: string,
    body: (storage: TestStorage) => Effect.Effect<void, SessionStoreError, Scope.Scope>,
    timeout?: number
  ) => {
    seen.add(name)
    const run = known.has(name) ? it.effect.fails : it.effect
    run(name, () => Effect.flatMap(store.storage, body), timeout)
  }

  describe(`session store conformance: ${store.name}`, () => {
    test("a client never seen before loads an empty session", (storage) =>
      Effect.gen(function*() {
        assertSession(yield* reload(storage, "new"), { outgoing: [], incoming: [] })
      }))

    test("every kind of change, in one apply and across applies, in order", (storage) =>
      Effect.gen(function*() {
        const model = new Model()
        const { store: s } = yield* openNew(storage, "kinds")
        const batches: ReadonlyArray<ReadonlyArray<StoreChange>> = [
          [put(flow(1)), put(flow(2, { qos: 1 })), put(flow(3)), del(2), addIn(10), addIn(11), delIn(10)],
          [clearIn, addIn(12), put(flow(1, { stage: "released" })), addIn(12)],
          [del(3), del(99), delIn(99), put(flow(4, { retain: true })), del(4), put(flow(4, { topic: "again" }))]
        ]
        for (const changes of batches) {
          yield* s.apply(changes)
          model.apply(changes)
        }
        assertSession(yield* reload(storage, "kinds"), model.snapshot())
      }))

    test("outgoing flows load in first-stored order; a re-put (released) keeps its place, also after a restart", (storage) =>
      Effect.gen(function*() {
        const model = new Model()
        const first = yield* openNew(storage, "order")
        const steps = [[put(flow(5))], [put(flow(3))], [put(flow(9))], [put(flow(1))], [put(flow(3, { stage: "released" }))], [
          del(9)
        ], [put(flow(9, { topic: "new" }))], [put(flow(2))]]
        for (const changes of steps) {
          yield* first.store.apply(changes)
          model.apply(changes)
        }
        yield* first.close
        const second = yield* openNew(storage, "order")
        assert.deepStrictEqual(second.loaded.outgoing.map((f) => [f.packetId, f.stage]), [[5, "sent"], [3, "released"], [1, "sent"], [
          9,
          "sent"
        ], [2, "sent"]])
        yield* second.store.apply([put(flow(5, { stage: "released" })), put(flow(6))])
        model.apply([put(flow(5, { stage: "released" })), put(flow(6))])
        yield* second.close
        const third = yield* reload(storage, "order")
        assert.deepStrictEqual(third.outgoing.map((f) => f.packetId), [5, 3, 1, 9, 2, 6])
        assertSession(third, model.snapshot())
      }))

    test("an empty apply([]) succeeds and changes nothing", (storage) =>
      Effect.gen(function*() {
        const { store: s, close } = yield* openNew(storage, "empty")
        yield* s.apply([])
        yield* s.apply([put(flow(1)), addIn(2)])
        yield* s.apply([])
        yield* close
        assertSession(yield* reload(storage, "empty"), { outgoing: [flow(1)], incoming: [2] })
      }))

    test("packet ids 1 and 65535", (storage) =>
      Effect.gen(function*() {
        const { store: s, close } = yield* openNew(storage, "ids")
        yield* s.apply([put(flow(65535)), put(flow(1, { qos: 1 })), addIn(65535), addIn(1)])
        yield* close
        assertSession(yield* reload(storage, "ids"), { outgoing: [flow(65535), flow(1, { qos: 1 })], incoming: [1, 65535] })
      }))

    test("binary payloads: all 256 byte values, an empty payload, 1 MiB", (storage) =>
      Effect.gen(function*() {
        const flows = [
          flow(1, { payload: allBytes, topic: "a/ü/😀" }),
          flow(2, { payload: new Uint8Array(0) }),
          flow(3, { payload: mebibyte }),
          // a view into a larger buffer: only its own bytes are stored
          flow(4, { payload: new Uint8Array(allBytes.buffer, 10, 5) })
        ]
        const { store: s, close } = yield* openNew(storage, "binary")
        yield* s.apply(flows.map(put))
        yield* close
        const loaded = yield* reload(storage, "binary")
        assertSession(loaded, { outgoing: flows, incoming: [] })
        assert.deepStrictEqual(loaded.outgoing.map((f) => f.payload.byteLength), [256, 0, 1024 * 1024, 5])
        for (const f of loaded.outgoing) assert.instanceOf(f.payload, Uint8Array)
      }), 60_000)

    test("MQTT 5.0 properties round-trip (user properties in order, correlation data bytes, every publish property)", (storage) =>
      Effect.gen(function*() {
        const flows = [
          flow(1, { properties: fullProperties }),
          flow(2, {
            properties: { payloadFormatIndicator: false, messageExpiryInterval: 0, correlationData: new Uint8Array(0) }
          }),
          flow(3, { properties: { userProperties: [["k", "v"]] } }),
          flow(4)
        ]
        const { store: s, close } = yield* openNew(storage, "props")
        yield* s.apply(flows.map(put))
        yield* close
        const loaded = yield* reload(storage, "props")
        assertSession(loaded, { outgoing: flows, incoming: [] })
        const correlation = loaded.outgoing[0]?.properties?.correlationData
        assert.instanceOf(correlation, Uint8Array)
        assert.isUndefined(loaded.outgoing[3]?.properties)
      }))

    for (const f of flows) {
      f.steps.forEach((step, k) => {
        for (const crash of [false, true]) {
          const how = crash ? "a crash (the old store never closed)" : "a restart"
          test(`${f.name}: ${how} right after ${step.point}, then the flow finishes on the new store`, (storage) =>
            Effect.gen(function*() {
              const model = new Model()
              const bystander = [put(flow(40000, { qos: 1, topic: "bystander" })), addIn(40000)]
              const first = yield* openNew(storage, "flow")
              yield* first.store.apply(bystander)
              model.apply(bystander)
              for (const s of f.steps.slice(0, k + 1)) {
                yield* first.store.apply(s.changes)
                model.apply(s.changes)
              }
              if (!crash) yield* first.close
              const second = yield* openNew(storage, "flow")
              assertSession(second.loaded, model.snapshot(), `loaded after ${how}`)
              for (const s of f.steps.slice(k + 1)) {
                yield* second.store.apply(s.changes)
                model.apply(s.changes)
              }
              yield* second.close
              assertSession(yield* reload(storage, "flow"), model.snapshot(), "loaded once the flow finished")
            }))
        }
      })
    }

    test("50 clients x 100 flows, applies interleaved: no client sees another's data", (storage) =>
      Effect.gen(function*() {
        const clients = Array.from({ length: 50 }, (_, i) => `c${i}`) // c1 is a prefix of c10..c19
        const models = new Map(clients.map((id) => [id, new Model()]))
        const shape = yield* storage.make
        yield* Effect.forEach(clients, (id, c) =>
          Effect.gen(function*() {
            const { store: s } = yield* openOn(shape, id)
            const model = models.get(id)!
            for (let round = 0; round < 20; round++) {
              const changes: Array<StoreChange> = []
              for (let i = 1; i <= 5; i++) {
                const packetId = round * 5 + i
                changes.push(put(flow(packetId, { topic: `${id}/${packetId}`, payload: Uint8Array.of(c, packetId & 0xff) })))
              }
              changes.push(addIn(1000 + round))
              if (round % 4 === 3) changes.push(del(round * 5 - 3), delIn(1000 + round - 2))
              yield* s.apply(changes)
              model.apply(changes)
              yield* Effect.yieldNow
            }
          }), { concurrency: "unbounded", discard: true })
        for (const id of clients) {
          const loaded = yield* reload(storage, id)
          assertSession(loaded, models.get(id)!.snapshot(), id)
          assert.strictEqual(loaded.outgoing.length, 95, id)
        }
      }), 120_000)

    const oddIds = ["", "_empty", "a/b", "a%2Fb", "a\\b", "../x", "..", ".", "a b", "A", "a", "Ωmega", "😀", "x".repeat(200)]
    test("client ids with odd characters keep separate sessions", (storage) =>
      Effect.gen(function*() {
        const shape = yield* storage.make
        for (const [i, id] of oddIds.entries()) {
          const { store: s, close } = yield* openOn(shape, id)
          yield* s.apply([put(flow(i + 1, { topic: id })), addIn(i + 1)])
          yield* close
        }
        for (const [i, id] of oddIds.entries()) {
          assertSession(yield* reload(storage, id), { outgoing: [flow(i + 1, { topic: id })], incoming: [i + 1] }, JSON.stringify(id))
        }
      }))

    test("a client id of 200 non-ASCII characters", (storage) =>
      Effect.gen(function*() {
        const id = "é".repeat(100) + "😀".repeat(50)
        const { store: s, close } = yield* openNew(storage, id)
        yield* s.apply([put(flow(1)), addIn(2)])
        yield* close
        assertSession(yield* reload(storage, id), { outgoing: [flow(1)], incoming: [2] })
      }))

    test("clear forgets outgoing and incoming; applies after it start from empty", (storage) =>
      Effect.gen(function*() {
        const first = yield* openNew(storage, "clear")
        yield* first.store.apply([put(flow(1)), put(flow(2)), addIn(5)])
        yield* first.store.clear
        yield* first.close
        assertSession(yield* reload(storage, "clear"), { outgoing: [], incoming: [] })
        const second = yield* openNew(storage, "clear")
        yield* second.store.apply([put(flow(3)), addIn(6)])
        yield* second.store.clear
        yield* second.store.apply([put(flow(4)), put(flow(2, { stage: "released" })), addIn(7)])
        yield* second.store.clear
        yield* second.store.clear // twice: still empty
        yield* second.store.apply([put(flow(8)), addIn(9)])
        yield* second.close
        assertSession(yield* reload(storage, "clear"), { outgoing: [flow(8)], incoming: [9] })
      }))

    test("clear leaves other clients' sessions untouched", (storage) =>
      Effect.gen(function*() {
        const shape = yield* storage.make
        const a = yield* openOn(shape, "a")
        const ab = yield* openOn(shape, "a/b")
        yield* a.store.apply([put(flow(1)), addIn(1)])
        yield* ab.store.apply([put(flow(2)), addIn(2)])
        yield* a.store.clear
        yield* a.close
        yield* ab.close
        assertSession(yield* reload(storage, "a"), { outgoing: [], incoming: [] })
        assertSession(yield* reload(storage, "a/b"), { outgoing: [flow(2)], incoming: [2] })
      }))

    test("a store opened before another one cleared the client writes onto the cleared session", (storage) =>
      Effect.gen(function*() {
        const shape = yield* storage.make
        const older = yield* openOn(shape, "shared")
        yield* older.store.apply([put(flow(1)), addIn(5)])
        const newer = yield* openOn(shape, "shared")
        assertSession(newer.loaded, { outgoing: [flow(1)], incoming: [5] })
        yield* newer.store.clear
        yield* older.store.apply([put(flow(2))])
        yield* older.close
        yield* newer.close
        assertSession(yield* reload(storage, "shared"), { outgoing: [flow(2)], incoming: [] })
      }))

    it("property: any changes, clears, restarts and crashes load back as the model (SessionState) has them", async () => {
      const packetId = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(65535), fc.integer({ min: 1, max: 65535 }))
      const properties: fc.Arbitrary<PublishProperties> = fc.record({
        payloadFormatIndicator: fc.boolean(),
        messageExpiryInterval: fc.integer({ min: 0, max: 4294967295 }),
        contentType: fc.string({ unit: "grapheme", maxLength: 8 }),
        responseTopic: fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }),
        correlationData: fc.uint8Array({ maxLength: 8 }),
        userProperties: fc.array(fc.tuple(fc.string({ unit: "grapheme", maxLength: 4 }), fc.string({ unit: "grapheme", maxLength: 4 })), {
          minLength: 1,
          maxLength: 3
        })
      }, { requiredKeys: [] })
      const storedFlow: fc.Arbitrary<StoredFlow> = fc.record({
        packetId,
        stage: fc.constantFrom("sent" as const, "released" as const),
        topic: fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }),
        payload: fc.uint8Array({ maxLength: 32 }),
        qos: fc.constantFrom(1 as const, 2 as const),
        retain: fc.boolean(),
        properties
      }, { requiredKeys: ["packetId", "stage", "topic", "payload", "qos", "retain"] })
      const change: fc.Arbitrary<StoreChange> = fc.oneof(
        { weight: 4, arbitrary: storedFlow.map(put) },
        { weight: 2, arbitrary: packetId.map(del) },
        { weight: 2, arbitrary: packetId.map(addIn) },
        { weight: 1, arbitrary: packetId.map(delIn) },
        { weight: 1, arbitrary: fc.constant(clearIn) }
      )
      type Op =
        | { readonly _tag: "apply"; readonly changes: ReadonlyArray<StoreChange> }
        | { readonly _tag: "clear" }
        | { readonly _tag: "restart"; readonly crash: boolean }
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 6, arbitrary: fc.array(change, { maxLength: 6 }).map((changes) => ({ _tag: "apply" as const, changes })) },
        { weight: 1, arbitrary: fc.constant({ _tag: "clear" as const }) },
        { weight: 2, arbitrary: fc.boolean().map((crash) => ({ _tag: "restart" as const, crash })) }
      )
      const scenario = (ops: ReadonlyArray<Op>) =>
        Effect.gen(function*() {
          const storage = yield* store.storage
          const model = new Model()
          let current = yield* openNew(storage, "prop")
          for (const [i, o] of ops.entries()) {
            switch (o._tag) {
              case "apply":
                yield* current.store.apply(o.changes)
                model.apply(o.changes)
                break
              case "clear":
                yield* current.store.clear
                model.clear()
                break
              case "restart":
                if (!o.crash) yield* current.close
                current = yield* openNew(storage, "prop")
                assertSession(current.loaded, model.snapshot(), `loaded after op ${i}`)
            }
          }
          yield* current.close
          assertSession(yield* reload(storage, "prop"), model.snapshot(), "loaded at the end")
        }).pipe(Effect.scoped)
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 25 }), (ops) => Effect.runPromise(scenario(ops))),
        { numRuns: store.propertyRuns ?? 40 }
      )
    }, 120_000)

    // --- damaged data -----------------------------------------------------------------------------------
    const setUp = (storage: TestStorage, clientId: string, model: Model) =>
      Effect.gen(function*() {
        const { store: s, close } = yield* openNew(storage, clientId)
        const batches = [[put(flow(1, { properties: fullProperties })), addIn(3)], [put(flow(2)), put(flow(1, { stage: "released" }))]]
        for (const changes of batches) {
          yield* s.apply(changes)
          model.apply(changes)
        }
        yield* close
      })

    test("a torn last record (a crash in the middle of a write) is skipped", (storage) =>
      Effect.gen(function*() {
        const torn = storage.corrupt?.tornWrite
        if (torn === undefined) return
        const model = new Model()
        yield* setUp(storage, "torn", model)
        yield* torn("torn")
        assertSession(yield* reload(storage, "torn"), model.snapshot())
        // and the client goes on from there
        const { store: s, close } = yield* openNew(storage, "torn")
        yield* s.apply([put(flow(3))])
        model.apply([put(flow(3))])
        yield* close
        assertSession(yield* reload(storage, "torn"), model.snapshot())
      }))

    test("a damaged record is skipped or fails open/load with SessionStoreError; other clients still load", (storage) =>
      Effect.gen(function*() {
        const damage = storage.corrupt?.damageRecord
        if (damage === undefined) return
        const model = new Model()
        const other = new Model()
        yield* setUp(storage, "damaged", model)
        yield* setUp(storage, "other", other)
        yield* damage("damaged")
        const loaded = assertSuccessOrStoreError(yield* Effect.exit(reload(storage, "damaged")))
        if (loaded !== undefined) {
          const expected = normal(model.snapshot())
          for (const f of normal(loaded).outgoing) assert.deepInclude(expected.outgoing, f)
          for (const id of loaded.incoming) assert.include(expected.incoming, id)
        }
        assertSession(yield* reload(storage, "other"), other.snapshot())
      }))

    test("storage overwritten with garbage: open/load return data or fail with SessionStoreError, never a defect", (storage) =>
      Effect.gen(function*() {
        const garbage = storage.corrupt?.replaceWithGarbage
        if (garbage === undefined) return
        yield* setUp(storage, "garbage", new Model())
        yield* garbage
        assertSuccessOrStoreError(yield* Effect.exit(reload(storage, "garbage")))
        assertSuccessOrStoreError(yield* Effect.exit(reload(storage, "never-seen")))
      }))

    it("knownFailures names tests of this suite", () => {
      for (const name of known) assert.isTrue(seen.has(name), `unknown test in knownFailures: ${name}`)
    })
  })
}
