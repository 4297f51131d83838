/**
 * IndexedDbSessionStore in Node, on `fake-indexeddb` (an in-memory IndexedDB that follows the spec): what
 * survives a reopen (the stand-in for a page reload), the order of flows, one client's data apart from
 * another's, and every failure as a SessionStoreError. The real-browser reload test is
 * `test/browser.indexeddb.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { IDBKeyRange, indexedDB } from "fake-indexeddb"
import { afterAll, beforeAll } from "vitest"
import { SessionStoreError } from "../../src/errors.ts"
import * as IndexedDbSessionStore from "../../src/IndexedDbSessionStore.ts"
import type { ClientSessionStore, StoreChange, StoredFlow } from "../../src/SessionStore.ts"

const globals = globalThis as { indexedDB?: unknown; IDBKeyRange?: unknown }
const saved = { indexedDB: globals.indexedDB, IDBKeyRange: globals.IDBKeyRange }
beforeAll(() => {
  globals.indexedDB = indexedDB as unknown
  globals.IDBKeyRange = IDBKeyRange as unknown
})
afterAll(() => {
  globals.indexedDB = saved.indexedDB
  globals.IDBKeyRange = saved.IDBKeyRange
})

let databases = 0
/** A store on a database of its own (one per test). */
const freshStore = () => {
  const databaseName = `aimeqtt-test-${++databases}`
  return { databaseName, store: IndexedDbSessionStore.make({ databaseName }) }
}

const flow = (packetId: number, extra: Partial<StoredFlow> = {}): StoredFlow => ({
  packetId,
  stage: "sent",
  topic: `t/${packetId}`,
  payload: new Uint8Array([packetId, 0, 255]),
  qos: 1,
  retain: false,
  ...extra
})
const put = (f: StoredFlow): StoreChange => ({ _tag: "PutOutgoing", flow: f })

/** Opens the client's store in a scope of its own, runs `f`, closes it (the reload between two runs). */
const withStore = <A, E>(
  store: ReturnType<typeof IndexedDbSessionStore.make>,
  clientId: string,
  f: (s: ClientSessionStore) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(store.open(clientId), f))

const ids = (s: { outgoing: ReadonlyArray<StoredFlow> }) => s.outgoing.map((f) => f.packetId)

/** Writes `value` into an object store of the database directly (a record the store did not write). */
const writeRaw = (databaseName: string, objectStore: string, value: unknown) =>
  Effect.promise(() =>
    new Promise<void>((resolve, reject) => {
      const request = indexedDB.open(databaseName, 1)
      request.onsuccess = () => {
        const db = request.result
        const tx = db.transaction([objectStore], "readwrite")
        tx.objectStore(objectStore).put(value)
        tx.oncomplete = () => {
          db.close()
          resolve()
        }
        tx.onabort = () => reject(tx.error)
      }
      request.onerror = () => reject(request.error)
    })
  )

describe("IndexedDbSessionStore (fake-indexeddb)", () => {
  it.effect("flows, MQTT 5.0 properties and incoming ids survive a reopen", () =>
    Effect.gen(function*() {
      const { store } = freshStore()
      const properties = {
        contentType: "application/json",
        correlationData: new Uint8Array([9, 8, 7]),
        messageExpiryInterval: 60,
        payloadFormatIndicator: true,
        responseTopic: "reply/here",
        userProperties: [["a", "1"], ["a", "2"]] as const satisfies ReadonlyArray<readonly [string, string]>
      }
      yield* withStore(store, "c1", (s) =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* s.load, { outgoing: [], incoming: [] })
          yield* s.apply([
            put(flow(1)),
            put(flow(2, { qos: 2, retain: true, properties })),
            { _tag: "AddIncoming", packetId: 5 },
            { _tag: "AddIncoming", packetId: 6 }
          ])
          yield* s.apply([{ _tag: "DeleteIncoming", packetId: 6 }])
        }))
      const loaded = yield* withStore(store, "c1", (s) => s.load)
      assert.deepStrictEqual(loaded.incoming, [5])
      assert.deepStrictEqual(loaded.outgoing[0], flow(1))
      const second = loaded.outgoing[1]
      assert.instanceOf(second?.payload, Uint8Array)
      assert.instanceOf(second?.properties?.correlationData, Uint8Array)
      assert.deepStrictEqual(second, flow(2, { qos: 2, retain: true, properties }))
    }))

  it.effect("flows keep the order of first store; a re-put as released keeps its place, also across reopens", () =>
    Effect.gen(function*() {
      const { store } = freshStore()
      yield* withStore(store, "c", (s) =>
        Effect.gen(function*() {
          yield* s.load
          yield* s.apply([put(flow(3)), put(flow(1)), put(flow(2, { qos: 2 }))])
          yield* s.apply([put(flow(3, { qos: 2, stage: "released" }))])
          yield* s.apply([{ _tag: "DeleteOutgoing", packetId: 1 }])
          yield* s.apply([put(flow(1))]) // a new flow with a reused id goes last
          assert.deepStrictEqual(ids(yield* s.load), [3, 2, 1])
        }))
      // without a load first: the positions are read in the apply's own transaction
      yield* withStore(store, "c", (s) => s.apply([put(flow(2, { qos: 2, stage: "released" })), put(flow(4))]))
      const loaded = yield* withStore(store, "c", (s) => s.load)
      assert.deepStrictEqual(ids(loaded), [3, 2, 1, 4])
      assert.deepStrictEqual(loaded.outgoing.map((f) => f.stage), ["released", "released", "sent", "sent"])
    }))

  it.effect("clients are kept apart: clear and ClearIncoming touch one client id only", () =>
    Effect.gen(function*() {
      const { store } = freshStore()
      const both = ["a", "a/b"] as const
      for (const clientId of both) {
        yield* withStore(store, clientId, (s) =>
          s.apply([put(flow(1)), put(flow(65535)), { _tag: "AddIncoming", packetId: 1 }, { _tag: "AddIncoming", packetId: 65535 }]))
      }
      yield* withStore(store, "a", (s) => s.apply([{ _tag: "ClearIncoming" }]))
      assert.deepStrictEqual(yield* withStore(store, "a/b", (s) => s.load).pipe(Effect.map((l) => l.incoming)), [1, 65535])
      yield* withStore(store, "a/b", (s) => s.clear)
      const a = yield* withStore(store, "a", (s) => s.load)
      assert.deepStrictEqual([ids(a), a.incoming], [[1, 65535], []])
      const b = yield* withStore(store, "a/b", (s) =>
        Effect.gen(function*() {
          yield* s.apply([put(flow(7))]) // starts from empty after the clear
          return yield* s.load
        }))
      assert.deepStrictEqual([ids(b), b.incoming], [[7], []])
    }))

  it.effect("a batch that cannot be stored fails with SessionStoreError and none of it lands", () =>
    Effect.gen(function*() {
      const { store } = freshStore()
      // a function cannot be cloned into IndexedDB: put throws DataCloneError
      const unclonable = { contentType: "x", extra: () => undefined } as unknown as StoredFlow["properties"]
      const error = yield* withStore(store, "c", (s) =>
        s.apply([put(flow(1)), put(flow(2, { ...(unclonable !== undefined ? { properties: unclonable } : {}) }))]).pipe(Effect.flip))
      assert.instanceOf(error, SessionStoreError)
      assert.include(error.message, "DataCloneError")
      assert.include(error.message, `client "c"`)
      assert.deepStrictEqual(ids(yield* withStore(store, "c", (s) => s.load)), [])
    }))

  it.effect("a record the store did not write fails load with a message naming the field", () =>
    Effect.gen(function*() {
      const { databaseName, store } = freshStore()
      yield* withStore(store, "c", (s) => s.apply([put(flow(1))]))
      yield* writeRaw(databaseName, "outgoing", { ...flow(2), clientId: "c", seq: 5, qos: 3 })
      const error = yield* withStore(store, "c", (s) => s.load).pipe(Effect.flip)
      assert.instanceOf(error, SessionStoreError)
      assert.include(error.message, "qos")
      assert.include(error.message, "not a session record")
    }))

  it.effect("no IndexedDB on the global object: open fails with SessionStoreError", () =>
    Effect.gen(function*() {
      const { store } = freshStore()
      globals.indexedDB = undefined
      const exit = yield* Effect.exit(withStore(store, "c", (s) => s.load)).pipe(
        Effect.ensuring(Effect.sync(() => {
          globals.indexedDB = indexedDB as unknown
        }))
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      assert.include(String(error), "IndexedDB is not available")
    }))

  it.effect("a database closed under the store (another page upgrades or deletes it) fails later operations", () =>
    Effect.gen(function*() {
      const { databaseName, store } = freshStore()
      // another page opens a newer version: ours gets versionchange, closes, and fails from then on
      const upgraded = yield* withStore(store, "c", (s) =>
        Effect.gen(function*() {
          yield* s.apply([put(flow(1))])
          yield* Effect.promise(() =>
            new Promise<void>((resolve, reject) => {
              const request = indexedDB.open(databaseName, 2)
              request.onsuccess = () => {
                request.result.close()
                resolve()
              }
              request.onerror = () => reject(request.error)
            })
          )
          return yield* Effect.flip(s.apply([put(flow(2))]))
        }))
      assert.instanceOf(upgraded, SessionStoreError)
      assert.include(upgraded.message, "another page upgrades or deletes the database")
      // and this version cannot open the newer database
      const versionError = yield* withStore(store, "c", (s) => s.load).pipe(Effect.flip)
      assert.instanceOf(versionError, SessionStoreError)
      assert.include(versionError.message, "VersionError")

      // another page deletes the database (e.g. clears the site's data): the same
      const other = freshStore()
      const deleted = yield* withStore(other.store, "c", (s) =>
        Effect.gen(function*() {
          yield* s.load
          yield* Effect.promise(() =>
            new Promise<void>((resolve, reject) => {
              const request = indexedDB.deleteDatabase(other.databaseName)
              request.onsuccess = () => resolve()
              request.onerror = () => reject(request.error)
            })
          )
          return yield* Effect.flip(s.apply([put(flow(2))]))
        }))
      assert.instanceOf(deleted, SessionStoreError)
      assert.include(deleted.message, "closed")
    }))
})

/**
 * An IndexedDB whose every readwrite transaction is aborted by the browser with `QuotaExceededError` after
 * its requests were placed (fake-indexeddb has no quota). Only what the store calls is implemented.
 */
const quotaExceeded = {
  open: () => {
    const request = {
      result: undefined as unknown,
      error: null,
      onsuccess: null as (() => void) | null,
      onerror: null,
      onupgradeneeded: null,
      onblocked: null
    }
    const db = {
      onversionchange: null,
      onclose: null,
      close: () => undefined,
      transaction: (_names: ReadonlyArray<string>, mode: string) => {
        const tx = {
          error: null as { name: string; message: string } | null,
          oncomplete: null as (() => void) | null,
          onabort: null as (() => void) | null,
          onerror: null,
          abort: () => undefined,
          objectStore: () => ({
            put: () => ({}),
            delete: () => ({}),
            getAll: () => ({ result: [] })
          })
        }
        setTimeout(() => {
          if (mode === "readonly") return tx.oncomplete?.()
          tx.error = { name: "QuotaExceededError", message: "The quota has been exceeded." }
          tx.onabort?.()
        }, 0)
        return tx
      }
    }
    request.result = db
    setTimeout(() => request.onsuccess?.(), 0)
    return request
  }
}

describe("IndexedDbSessionStore (quota)", () => {
  it.effect("a transaction the browser aborts (quota used up) fails apply and clear with SessionStoreError", () =>
    Effect.gen(function*() {
      globals.indexedDB = quotaExceeded
      const { store } = freshStore()
      const [applied, cleared] = yield* withStore(store, "c", (s) =>
        Effect.all([Effect.flip(s.apply([put(flow(1))])), Effect.flip(s.clear)])).pipe(
          Effect.ensuring(Effect.sync(() => {
            globals.indexedDB = indexedDB as unknown
          }))
        )
      for (const error of [applied, cleared]) {
        assert.instanceOf(error, SessionStoreError)
        assert.include(error.message, "QuotaExceededError")
        assert.include(error.message, "storage quota is used up")
      }
    }))
})
