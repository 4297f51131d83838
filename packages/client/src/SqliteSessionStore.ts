/**
 * A session store in a SQLite database (Node only), through the optional package `better-sqlite3`, which
 * is loaded the first time a client opens the store: programs that do not use this store need not install
 * it. One database file may hold the sessions of many clients, next to a program's own tables.
 *
 * @since 0.4.0
 */
import type Sqlite from "better-sqlite3"
import { Effect, Layer, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { SessionStoreError } from "./errors.ts"
import {
  type ClientSessionStore,
  SessionStore,
  type SessionStoreShape,
  type StoreChange,
  type StoredFlow,
  type StoredSession
} from "./SessionStore.ts"
import { PropertiesJsonText } from "./StoredProperties.ts"

/** The package this store runs on; an optional peer dependency of `@aimeqtt/client`. */
const DRIVER = "better-sqlite3"

type Database = Sqlite.Database
/** The driver's `Database` class. */
type Driver = typeof Sqlite

/**
 * The tables, created when missing. Outgoing flows are keyed by (client id, packet id); `position` keeps
 * the order in which each flow was first stored (an update of a flow, such as its move to "released",
 * keeps it). Names carry a prefix so the database may be shared with a program's own tables.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS aimeqtt_outgoing (
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  position INTEGER NOT NULL,
  stage TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  properties TEXT,
  PRIMARY KEY (client_id, packet_id)
) STRICT;
CREATE INDEX IF NOT EXISTS aimeqtt_outgoing_position ON aimeqtt_outgoing (client_id, position);
CREATE TABLE IF NOT EXISTS aimeqtt_incoming (
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (client_id, packet_id)
) STRICT;
`

const PacketId = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 65535 }))

/** A row of `aimeqtt_outgoing` as read back: every column is checked before the engine sends it again. */
const OutgoingRow = Schema.Struct({
  packet_id: PacketId,
  stage: Schema.Literals(["sent", "released"]),
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: Schema.Literals([1, 2]),
  retain: Schema.Literals([0, 1]),
  properties: Schema.NullOr(PropertiesJsonText)
})
const decodeOutgoing = Schema.decodeUnknownResult(OutgoingRow)
const decodeIncoming = Schema.decodeUnknownResult(Schema.Struct({ packet_id: PacketId }))
const encodeProperties = Schema.encodeResult(PropertiesJsonText)

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** Runs `f`; an exception becomes a SessionStoreError that starts with `message`. */
const attempt = <A>(message: string, f: () => A): Effect.Effect<A, SessionStoreError> =>
  Effect.try({ try: f, catch: (cause) => new SessionStoreError({ message: `${message}: ${messageOf(cause)}`, cause }) })

/** The driver, imported on first use (Node caches the module). */
const driver: Effect.Effect<Driver, SessionStoreError> = Effect.tryPromise({
  try: () => import("better-sqlite3").then((module) => module.default),
  catch: (cause) =>
    new SessionStoreError({
      message: `SqliteSessionStore needs the package ${DRIVER}, which could not be loaded (install it: npm install ${DRIVER}): ${messageOf(cause)}`,
      cause
    })
})

/**
 * Opens the database: a write-ahead log with `synchronous = FULL`, so a committed transaction is on disk
 * before `apply` returns (it survives a crash of the process or of the machine).
 */
const openDatabase = (Driver: Driver, path: string): Database => {
  Fs.mkdirSync(Path.dirname(path), { recursive: true })
  const db = new Driver(path)
  try {
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = FULL")
    db.exec(SCHEMA)
    return db
  } catch (cause) {
    db.close()
    throw cause
  }
}

/** The prepared statements of one client's store. */
const statements = (db: Database, clientId: string) => {
  const outgoing = db.prepare<[string], unknown>(
    "SELECT packet_id, stage, topic, payload, qos, retain, properties FROM aimeqtt_outgoing WHERE client_id = ? ORDER BY position"
  )
  const incoming = db.prepare<[string], unknown>("SELECT packet_id FROM aimeqtt_incoming WHERE client_id = ? ORDER BY rowid")
  const put = db.prepare<[
    { client: string; id: number; stage: string; topic: string; payload: Buffer; qos: number; retain: number; properties: string | null }
  ]>(
    `INSERT INTO aimeqtt_outgoing (client_id, packet_id, position, stage, topic, payload, qos, retain, properties)
     VALUES (@client, @id, (SELECT COALESCE(MAX(position), 0) + 1 FROM aimeqtt_outgoing WHERE client_id = @client),
       @stage, @topic, @payload, @qos, @retain, @properties)
     ON CONFLICT (client_id, packet_id) DO UPDATE SET stage = excluded.stage, topic = excluded.topic,
       payload = excluded.payload, qos = excluded.qos, retain = excluded.retain, properties = excluded.properties`
  )
  const deleteOutgoing = db.prepare<[string, number]>("DELETE FROM aimeqtt_outgoing WHERE client_id = ? AND packet_id = ?")
  const addIncoming = db.prepare<[string, number]>("INSERT OR IGNORE INTO aimeqtt_incoming (client_id, packet_id) VALUES (?, ?)")
  const deleteIncoming = db.prepare<[string, number]>("DELETE FROM aimeqtt_incoming WHERE client_id = ? AND packet_id = ?")
  const clearIncoming = db.prepare<[string]>("DELETE FROM aimeqtt_incoming WHERE client_id = ?")
  const clearOutgoing = db.prepare<[string]>("DELETE FROM aimeqtt_outgoing WHERE client_id = ?")

  /** One change; a flow's properties are encoded before the transaction starts (see `apply`). */
  const run = (change: StoreChange, properties: string | null): void => {
    switch (change._tag) {
      case "PutOutgoing": {
        const f = change.flow
        put.run({
          client: clientId,
          id: f.packetId,
          stage: f.stage,
          topic: f.topic,
          payload: Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength),
          qos: f.qos,
          retain: f.retain ? 1 : 0,
          properties
        })
        break
      }
      case "DeleteOutgoing":
        deleteOutgoing.run(clientId, change.packetId)
        break
      case "AddIncoming":
        addIncoming.run(clientId, change.packetId)
        break
      case "DeleteIncoming":
        deleteIncoming.run(clientId, change.packetId)
        break
      case "ClearIncoming":
        clearIncoming.run(clientId)
    }
  }
  return {
    outgoing: () => outgoing.all(clientId),
    incoming: () => incoming.all(clientId),
    /** All the changes in one transaction: stored together or not at all. */
    apply: db.transaction((changes: ReadonlyArray<readonly [StoreChange, string | null]>) => {
      for (const [change, properties] of changes) run(change, properties)
    }),
    clear: db.transaction(() => {
      clearOutgoing.run(clientId)
      clearIncoming.run(clientId)
    })
  }
}

/**
 * A store that keeps sessions in the SQLite database at `path` (created with its directory when
 * missing), in the tables `aimeqtt_outgoing` and `aimeqtt_incoming`. Each `apply` is one transaction,
 * committed with `synchronous = FULL` in a write-ahead log before the client sends the packets it
 * describes. Each opened client has its own connection, closed with the client.
 *
 * Fails with `SessionStoreError` when `better-sqlite3` is not installed (the message says what to
 * install), when the file is not a SQLite database or cannot be written, and when `load` finds a row it
 * cannot read back (the message names the client, the packet id and the column): a damaged row is not
 * skipped, since that would silently drop a message.
 *
 * The driver is synchronous: a write blocks the event loop while SQLite syncs the log (as the file
 * store's `fdatasync` does). Another process holding a write lock is waited for up to 5 seconds. The
 * write-ahead log needs a local file system (SQLite does not support WAL over a network file system).
 *
 * @since 0.4.0
 * @category session stores
 */
export const make = (path: string): SessionStoreShape => ({
  open: (clientId) =>
    Effect.gen(function*() {
      const Driver = yield* driver
      const db = yield* Effect.acquireRelease(
        attempt(`cannot open the SQLite session store ${path}`, () => openDatabase(Driver, path)),
        (db) => Effect.ignore(attempt(`cannot close the SQLite session store ${path}`, () => db.close()))
      )
      const sql = yield* attempt(`cannot prepare the SQLite session store ${path}`, () => statements(db, clientId))
      const where = `the SQLite session store ${path}, client ${JSON.stringify(clientId)}`

      const load: Effect.Effect<StoredSession, SessionStoreError> = Effect.gen(function*() {
        const rows = yield* attempt(`cannot read ${where}`, () => ({ outgoing: sql.outgoing(), incoming: sql.incoming() }))
        const outgoing: Array<StoredFlow> = []
        for (const raw of rows.outgoing) {
          const row = decodeOutgoing(raw)
          if (row._tag === "Failure") {
            const id = typeof raw === "object" && raw !== null && "packet_id" in raw ? ` packet id ${String(raw.packet_id)}` : ""
            return yield* new SessionStoreError({ message: `${where} holds a damaged outgoing flow${id}: ${row.failure.message}` })
          }
          const r = row.success
          outgoing.push({
            packetId: r.packet_id,
            stage: r.stage,
            topic: r.topic,
            payload: new Uint8Array(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
            qos: r.qos,
            retain: r.retain === 1,
            ...(r.properties !== null ? { properties: r.properties } : {})
          })
        }
        const incoming: Array<number> = []
        for (const raw of rows.incoming) {
          const row = decodeIncoming(raw)
          if (row._tag === "Failure") {
            return yield* new SessionStoreError({ message: `${where} holds a damaged incoming packet id: ${row.failure.message}` })
          }
          incoming.push(row.success.packet_id)
        }
        return { outgoing, incoming }
      })

      const apply = (changes: ReadonlyArray<StoreChange>): Effect.Effect<void, SessionStoreError> =>
        Effect.suspend(() => {
          if (changes.length === 0) return Effect.void
          const withProperties: Array<readonly [StoreChange, string | null]> = []
          for (const change of changes) {
            if (change._tag !== "PutOutgoing" || change.flow.properties === undefined) {
              withProperties.push([change, null])
              continue
            }
            const encoded = encodeProperties(change.flow.properties)
            if (encoded._tag === "Failure") {
              return Effect.fail(
                new SessionStoreError({
                  message: `cannot store the properties of packet id ${change.flow.packetId} in ${where}: ${encoded.failure.message}`
                })
              )
            }
            withProperties.push([change, encoded.success])
          }
          return attempt(`cannot write ${where}`, () => sql.apply(withProperties))
        })

      const store: ClientSessionStore = {
        load,
        apply,
        clear: attempt(`cannot clear ${where}`, () => sql.clear())
      }
      return store
    })
})

/**
 * Provides the SQLite-backed {@link SessionStore}:
 * `MqttClient.layer(options).pipe(Layer.provide(SqliteSessionStore.layer("/var/lib/gateway/mqtt.db")))`.
 * Needs the package `better-sqlite3`.
 *
 * @since 0.4.0
 * @category session stores
 */
export const layer = (path: string): Layer.Layer<never> => Layer.succeed(SessionStore, make(path))
