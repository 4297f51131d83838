/**
 * IndexedDbSessionStore in Node, on `fake-indexeddb` (an in-memory IndexedDB that follows the spec): the
 * shared conformance suite (a new store instance over the same database stands in for a page reload), and
 * what is IndexedDB's own: the positions of flows read in an apply that comes before any load, a batch that
 * cannot be cloned, a transaction the browser aborts (quota), the database upgraded or deleted by another
 * page, no IndexedDB at all. The real-browser reload test is `test/browser.indexeddb.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { IDBKeyRange, indexedDB } from "fake-indexeddb"
import { afterAll, beforeAll } from "vitest"
import { SessionStoreError } from "../../src/errors.ts"
import * as IndexedDbSessionStore from "../../src/IndexedDbSessionStore.ts"
import type { ClientSessionStore, StoredFlow } from "../../src/SessionStore.ts"
import { conformance, flow, put } from "./conformance.ts"

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

/** Every record of both object stores of `databaseName`, rewritten by `f` (same key). */
const rewriteAll = (databaseName: string, f: (record: Record<string, unknown>) => Record<string, unknown>) =>
  Effect.promise(() =>
    new Promise<void>((resolve, reject) => {
      const request = indexedDB.open(databaseName, 1)
      request.onsuccess = () => {
        const db = request.result
        const tx = db.transaction(["outgoing", "incoming"], "readwrite")
        for (const name of ["outgoing", "incoming"]) {
          const cursor = tx.objectStore(name).openCursor()
          cursor.onsuccess = () => {
            const at = cursor.result
            if (at === null) return
            at.update(f(at.value as Record<string, unknown>))
            at.continue()
          }
        }
        tx.oncomplete = () => {
          db.close()
          resolve()
        }
        tx.onabort = () => reject(tx.error)
      }
      request.onerror = () => reject(request.error)
    })
  )

conformance({
  name: "IndexedDB (fake-indexeddb)",
  durable: true,
  propertyRuns: 30,
  storage: Effect.acquireRelease(
    Effect.sync(() => freshStore().databaseName),
    (databaseName) =>
      Effect.callback<void>((resume) => {
        const request = indexedDB.deleteDatabase(databaseName)
        request.onsuccess = () => resume(Effect.void)
        request.onerror = () => resume(Effect.void)
      })
  ).pipe(
    Effect.map((databaseName) => ({
      make: Effect.sync(() => IndexedDbSessionStore.make({ databaseName })),
      corrupt: {
        // one transaction per apply: a write cannot tear, so there is no torn-write hook
        damageRecord: (clientId: string) =>
          writeRaw(databaseName, "outgoing", { ...flow(4242), clientId, seq: 0, qos: 3, properties: { userProperties: 7 } }),
        replaceWithGarbage: rewriteAll(databaseName, (record) => ({
          clientId: record.clientId,
          packetId: record.packetId,
          seq: "garbage",
          payload: 42,
          stage: null
        }))
      }
    }))
  )
})

describe("IndexedDbSessionStore (fake-indexeddb)", () => {
  it.effect("an apply before any load reads the stored positions in its own transaction", () =>
    Effect.gen(function*() {
      const { store } = freshStore()
      yield* withStore(store, "c", (s) => s.apply([put(flow(3)), put(flow(1)), put(flow(2))]))
      // no load: a re-put keeps its place, a new flow goes last
      yield* withStore(store, "c", (s) => s.apply([put(flow(3, { stage: "released" })), put(flow(4))]))
      const loaded = yield* withStore(store, "c", (s) => s.load)
      assert.deepStrictEqual(ids(loaded), [3, 1, 2, 4])
      assert.deepStrictEqual(loaded.outgoing.map((f) => f.stage), ["released", "sent", "sent", "sent"])
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
