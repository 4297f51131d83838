/**
 * IndexedDbSessionStore against the conformance suite, on `fake-indexeddb` (an in-memory IndexedDB that
 * follows the spec): a database of its own per test; a "restart" is a new store over the same database.
 */
import { Effect } from "effect"
import { IDBKeyRange, indexedDB } from "fake-indexeddb"
import { afterAll, beforeAll } from "vitest"
import * as IndexedDbSessionStore from "../../src/IndexedDbSessionStore.ts"
import { conformance } from "./conformance.ts"

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
conformance({
  name: "IndexedDB (fake-indexeddb)",
  durable: true,
  propertyRuns: 20,
  storage: Effect.sync(() => {
    const databaseName = `aimeqtt-conformance-${++databases}`
    return { make: Effect.sync(() => IndexedDbSessionStore.make({ databaseName })) }
  })
})
