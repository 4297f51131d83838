/**
 * A session store in the browser's IndexedDB: each client's QoS 1/2 flows and incoming QoS 2 packet ids
 * live in a database of the page's origin, so a flow started before a page reload (or a crash of the tab)
 * finishes after it, when the page connects again with the same client id and `cleanSession: false`.
 *
 * Every change is one `readwrite` transaction with `durability: "strict"` (where the browser supports
 * it); the client sends the packet it describes only once the transaction has committed.
 *
 * Portable: it uses `globalThis.indexedDB` and no Node module, so both entries export it (in Node it
 * works wherever an IndexedDB is installed on the global object, e.g. by `fake-indexeddb`).
 *
 * @since 0.3.0
 */
import { PropertiesSchema } from "@aimeqtt/codec"
import { Effect, Layer, Schema } from "effect"
import { SessionStoreError } from "./errors.ts"
import {
  type ClientSessionStore,
  SessionStore,
  type SessionStoreShape,
  type StoreChange,
  type StoredFlow,
  type StoredSession
} from "./SessionStore.ts"

// The package is type-checked without the DOM lib: these are the few IndexedDB members the store uses.
interface IdbError {
  readonly name: string
  readonly message: string
}
interface IdbRequest<T> {
  readonly result: T
  readonly error: IdbError | null
  onsuccess: (() => void) | null
  onerror: (() => void) | null
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null
  onblocked: (() => void) | null
}
interface IdbObjectStore {
  put(value: unknown): IdbRequest<unknown>
  delete(query: unknown): IdbRequest<undefined>
  getAll(query: unknown): IdbRequest<ReadonlyArray<unknown>>
}
interface IdbTransaction {
  readonly error: IdbError | null
  objectStore(name: string): IdbObjectStore
  abort(): void
  oncomplete: (() => void) | null
  onabort: (() => void) | null
  onerror: (() => void) | null
}
interface IdbDatabase {
  readonly objectStoreNames: { contains(name: string): boolean }
  createObjectStore(name: string, options: { readonly keyPath: ReadonlyArray<string> }): unknown
  transaction(
    names: ReadonlyArray<string>,
    mode: "readonly" | "readwrite",
    options?: { readonly durability: "strict" }
  ): IdbTransaction
  close(): void
  onversionchange: (() => void) | null
  onclose: (() => void) | null
}
interface IdbGlobals {
  readonly indexedDB?: { open(name: string, version: number): IdbOpenRequest }
  readonly IDBKeyRange?: { bound(lower: unknown, upper: unknown): unknown }
}

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.3.0
 * @category session stores
 */
export interface IndexedDbSessionStoreOptions {
  /** The IndexedDB database that holds the sessions of every client id of the page's origin. Default `"aimeqtt-sessions"`. */
  readonly databaseName?: string
}

const DEFAULT_DATABASE = "aimeqtt-sessions"
const VERSION = 1
/** Outgoing flows: key `[clientId, packetId]`; `seq` keeps the order in which each flow was first stored. */
const OUTGOING = "outgoing"
/** Incoming QoS 2 packet ids waiting for PUBREL: key `[clientId, packetId]`. */
const INCOMING = "incoming"
const KEY_PATH = ["clientId", "packetId"] as const

const PacketId = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 65535 }))

const OutgoingRecord = Schema.Struct({
  clientId: Schema.String,
  packetId: PacketId,
  seq: Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
  stage: Schema.Literals(["sent", "released"]),
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: Schema.Literals([1, 2]),
  retain: Schema.Boolean,
  properties: Schema.optionalKey(PropertiesSchema.Publish)
})
type OutgoingRecord = typeof OutgoingRecord.Type
const IncomingRecord = Schema.Struct({ clientId: Schema.String, packetId: PacketId })

const decodeRecords = Schema.decodeUnknownEffect(
  Schema.Struct({ outgoing: Schema.Array(OutgoingRecord), incoming: Schema.Array(IncomingRecord) })
)

const describe = (error: IdbError | null | undefined): string => {
  if (error === null || error === undefined) return "unknown error"
  const hint = error.name === "QuotaExceededError" ? " (the origin's storage quota is used up)" : ""
  return `${error.name}: ${error.message}${hint}`
}

const failure = (message: string, cause?: unknown): SessionStoreError =>
  new SessionStoreError({
    message: cause === undefined
      ? message
      : `${message}: ${typeof cause === "object" && cause !== null && "name" in cause && "message" in cause
        ? describe(cause as IdbError)
        : String(cause)}`,
    ...(cause !== undefined ? { cause } : {})
  })

/** The IndexedDB of the global object, or why there is none (Node without a polyfill, a sandboxed or private context). */
const globals = (): Required<IdbGlobals> | SessionStoreError => {
  try {
    const g = globalThis as IdbGlobals
    if (g.indexedDB === undefined || g.IDBKeyRange === undefined) {
      return failure("IndexedDB is not available here (globalThis.indexedDB is missing)")
    }
    return { indexedDB: g.indexedDB, IDBKeyRange: g.IDBKeyRange }
  } catch (cause) {
    // some browsers throw a SecurityError on access when storage is blocked for the page
    return failure("IndexedDB is not available here", cause)
  }
}

/** Opens (and on first use creates) the database; the scope closes the connection. */
const openDatabase = (indexedDB: Required<IdbGlobals>["indexedDB"], name: string) =>
  Effect.acquireRelease(
    Effect.callback<IdbDatabase, SessionStoreError>((resume) => {
      let settled = false
      const settle = (effect: Effect.Effect<IdbDatabase, SessionStoreError>) => {
        if (settled) return
        settled = true
        resume(effect)
      }
      let request: IdbOpenRequest
      try {
        request = indexedDB.open(name, VERSION)
      } catch (cause) {
        return settle(Effect.fail(failure(`cannot open the IndexedDB database "${name}"`, cause)))
      }
      request.onupgradeneeded = () => {
        const db = request.result
        if (!db.objectStoreNames.contains(OUTGOING)) db.createObjectStore(OUTGOING, { keyPath: KEY_PATH })
        if (!db.objectStoreNames.contains(INCOMING)) db.createObjectStore(INCOMING, { keyPath: KEY_PATH })
      }
      request.onsuccess = () => {
        // opened after it was given up (blocked, interrupted): nobody will close it but us
        if (settled) return request.result.close()
        settle(Effect.succeed(request.result))
      }
      request.onerror = () =>
        settle(Effect.fail(failure(`cannot open the IndexedDB database "${name}"`, request.error)))
      request.onblocked = () =>
        settle(Effect.fail(failure(
          `cannot open the IndexedDB database "${name}": blocked by another page that keeps an older version open`
        )))
      return Effect.sync(() => {
        settled = true
      })
    }),
    (db) => Effect.sync(() => db.close())
  )

/**
 * Runs one transaction: `body` places its requests and returns what to answer once it has committed.
 * Succeeds on `complete` only; an error of any request, an abort (quota, a closed database) or a throw
 * while placing the requests fails with {@link SessionStoreError}. Interrupting it aborts the transaction.
 */
const transact = <A>(
  db: IdbDatabase,
  mode: "readonly" | "readwrite",
  what: string,
  body: (tx: IdbTransaction, abort: (cause: unknown) => void) => () => A
): Effect.Effect<A, SessionStoreError> =>
  Effect.callback<A, SessionStoreError>((resume) => {
    let settled = false
    const settle = (effect: Effect.Effect<A, SessionStoreError>) => {
      if (settled) return
      settled = true
      resume(effect)
    }
    let tx: IdbTransaction
    let answer: () => A
    let aborted: unknown
    /** Aborts the transaction from one of its request callbacks (nothing of it lands); `onabort` reports `cause`. */
    const abort = (cause: unknown) => {
      aborted = cause
      try {
        tx.abort()
      } catch {
        // already finished
      }
    }
    try {
      // durability "strict": committed means flushed to disk; browsers without the option ignore it
      tx = mode === "readwrite"
        ? db.transaction([OUTGOING, INCOMING], mode, { durability: "strict" })
        : db.transaction([OUTGOING, INCOMING], mode)
    } catch (cause) {
      return settle(Effect.fail(failure(`cannot ${what}`, cause)))
    }
    tx.oncomplete = () => {
      try {
        settle(Effect.succeed(answer()))
      } catch (cause) {
        settle(Effect.fail(failure(`cannot ${what}`, cause)))
      }
    }
    tx.onabort = () => settle(Effect.fail(failure(`cannot ${what}`, tx.error ?? aborted ?? "the transaction was aborted")))
    tx.onerror = () => undefined // the abort that follows reports it
    try {
      answer = body(tx, abort)
    } catch (cause) {
      // e.g. DataCloneError from put: nothing of this transaction may land
      abort(cause)
      return settle(Effect.fail(failure(`cannot ${what}`, cause)))
    }
    return Effect.sync(() => {
      if (settled) return
      settled = true
      try {
        tx.abort()
      } catch {
        // already committing: the change lands, as if the interruption had come a moment later
      }
    })
  })

const toRecord = (clientId: string, seq: number, flow: StoredFlow): OutgoingRecord => ({
  clientId,
  packetId: flow.packetId,
  seq,
  stage: flow.stage,
  topic: flow.topic,
  payload: flow.payload,
  qos: flow.qos,
  retain: flow.retain,
  ...(flow.properties !== undefined ? { properties: flow.properties } : {})
})

const toFlow = (record: OutgoingRecord): StoredFlow => ({
  packetId: record.packetId,
  stage: record.stage,
  topic: record.topic,
  payload: record.payload,
  qos: record.qos,
  retain: record.retain,
  ...(record.properties !== undefined ? { properties: record.properties } : {})
})

/** Where each stored flow stands in the order of first store; the next free position. */
interface Order {
  readonly seqOf: Map<number, number>
  next: number
}

/**
 * A store that keeps each client's session in the IndexedDB database `databaseName` of the page's
 * origin (object stores `outgoing` and `incoming`, keyed by `[clientId, packetId]`). `apply` completes
 * when its transaction has committed (`durability: "strict"`), so the change survives a reload or a
 * crash of the tab.
 *
 * Everything fails with {@link SessionStoreError}, never a defect: IndexedDB missing or blocked for the
 * page, the database blocked by another page holding an older version open or closed under the store
 * (another page upgrades or deletes it, the user clears the site's data), the storage quota used up, a
 * stored record that is not a session record (the message names the field).
 *
 * One page (or worker) per client id at a time: a second page connecting with the same client id takes
 * the session over at the broker anyway [MQTT-3.1.4-2].
 *
 * @since 0.3.0
 * @category session stores
 */
export const make = (options: IndexedDbSessionStoreOptions = {}): SessionStoreShape => {
  const name = options.databaseName ?? DEFAULT_DATABASE
  return {
    open: (clientId) =>
      Effect.gen(function*() {
        const g = globals()
        if (g instanceof SessionStoreError) return yield* g
        const db = yield* openDatabase(g.indexedDB, name)
        let closed: string | undefined
        db.onversionchange = () => {
          // let the other page upgrade or delete the database; later operations fail
          closed = "another page upgrades or deletes the database"
          db.close()
        }
        db.onclose = () => {
          closed = "the browser closed the database (site data cleared?)"
        }
        const range = g.IDBKeyRange.bound([clientId, 1], [clientId, 65535])
        const whose = `the session of client "${clientId}" in the IndexedDB database "${name}"`
        // unknown until the first load (or an apply before it reads the positions in its own transaction)
        let order: Order | undefined

        const guard = <A>(effect: Effect.Effect<A, SessionStoreError>): Effect.Effect<A, SessionStoreError> =>
          Effect.suspend(() => closed === undefined ? effect : Effect.fail(failure(`${whose} is closed: ${closed}`)))

        const read = (tx: IdbTransaction) => {
          const outgoing = tx.objectStore(OUTGOING).getAll(range)
          const incoming = tx.objectStore(INCOMING).getAll(range)
          return () => ({ outgoing: outgoing.result, incoming: incoming.result })
        }

        const load: Effect.Effect<StoredSession, SessionStoreError> = guard(
          transact(db, "readonly", `read ${whose}`, read).pipe(
            Effect.flatMap((raw) => decodeRecords(raw)),
            Effect.mapError((error) =>
              error instanceof SessionStoreError
                ? error
                : new SessionStoreError({ message: `${whose} holds a record that is not a session record: ${error.message}`, cause: error })
            ),
            Effect.map(({ incoming, outgoing }) => {
              const sorted = [...outgoing].sort((a, b) => a.seq - b.seq)
              order = {
                seqOf: new Map(sorted.map((r) => [r.packetId, r.seq])),
                next: sorted.length === 0 ? 0 : (sorted[sorted.length - 1]?.seq ?? 0) + 1
              }
              return { outgoing: sorted.map(toFlow), incoming: incoming.map((r) => r.packetId) }
            })
          )
        )

        /** Places the changes' requests; `known` is updated on a copy, taken over once the transaction commits. */
        const place = (tx: IdbTransaction, changes: ReadonlyArray<StoreChange>, known: Order) => {
          const outgoing = tx.objectStore(OUTGOING)
          const incoming = tx.objectStore(INCOMING)
          for (const change of changes) {
            switch (change._tag) {
              case "PutOutgoing": {
                // a re-put (stage "released") keeps the flow's place in the order of first store
                const seq = known.seqOf.get(change.flow.packetId) ?? known.next++
                known.seqOf.set(change.flow.packetId, seq)
                outgoing.put(toRecord(clientId, seq, change.flow))
                break
              }
              case "DeleteOutgoing":
                known.seqOf.delete(change.packetId)
                outgoing.delete([clientId, change.packetId])
                break
              case "AddIncoming":
                incoming.put({ clientId, packetId: change.packetId })
                break
              case "DeleteIncoming":
                incoming.delete([clientId, change.packetId])
                break
              case "ClearIncoming":
                incoming.delete(range)
            }
          }
        }

        const apply = (changes: ReadonlyArray<StoreChange>): Effect.Effect<void, SessionStoreError> =>
          changes.length === 0 ? Effect.void : guard(Effect.suspend(() => {
            const current = order
            const next: Order = current === undefined
              ? { seqOf: new Map(), next: 0 }
              : { seqOf: new Map(current.seqOf), next: current.next }
            return transact(db, "readwrite", `store a change of ${whose}`, (tx, abort) => {
              if (current !== undefined) {
                place(tx, changes, next)
              } else {
                // no load yet: read the stored positions first, in this transaction, then place the changes
                const stored = tx.objectStore(OUTGOING).getAll(range)
                stored.onsuccess = () => {
                  for (const record of stored.result) {
                    const decoded = Schema.decodeUnknownOption(OutgoingRecord)(record)
                    if (decoded._tag === "None") continue
                    next.seqOf.set(decoded.value.packetId, decoded.value.seq)
                    next.next = Math.max(next.next, decoded.value.seq + 1)
                  }
                  try {
                    place(tx, changes, next)
                  } catch (cause) {
                    abort(cause)
                  }
                }
              }
              return () => {
                order = next
              }
            })
          }))

        const clear: Effect.Effect<void, SessionStoreError> = guard(
          transact(db, "readwrite", `clear ${whose}`, (tx) => {
            tx.objectStore(OUTGOING).delete(range)
            tx.objectStore(INCOMING).delete(range)
            return () => {
              order = { seqOf: new Map(), next: 0 }
            }
          })
        )

        const store: ClientSessionStore = { load, apply, clear }
        return store
      })
  }
}

/**
 * Provides the IndexedDB-backed {@link SessionStore}:
 * `MqttClient.layer({ url, clientId, cleanSession: false }).pipe(Layer.provide(IndexedDbSessionStore.layer()))`.
 *
 * @since 0.3.0
 * @category session stores
 */
export const layer = (options: IndexedDbSessionStoreOptions = {}): Layer.Layer<never> =>
  Layer.succeed(SessionStore, make(options))
