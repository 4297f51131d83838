/**
 * The SQLite session store: the conformance suite (with damaged rows and a file that is not a database),
 * what is particular to SQLite (one transaction per apply, the tables shared with a program's own, the
 * durability settings, the missing driver), and a real client that finishes a QoS 2 flow after it is
 * rebuilt over the same database (mosquitto).
 */
import { MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Context, Effect, Layer, Schedule, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { SessionStoreShape, StoreChange } from "../../src/SessionStore.ts"
import * as SqliteSessionStore from "../../src/SqliteSessionStore.ts"
import { describeMosquitto } from "../brokers/index.ts"
import { tempDir } from "../util.ts"
import { conformance, flow, normal, put } from "./conformance.ts"
import { crashSteps, crashThenFinish } from "./crash.ts"

/** A database path in a fresh temp dir. */
const tempDatabase = Effect.map(tempDir("aimeqtt-sqlite-"), (dir) => Path.join(dir, "sub", "sessions.db"))

/** Runs `f` on a connection of our own to the database (the store's are closed). */
const withDb = <A>(path: string, f: (db: Database.Database) => A): Effect.Effect<A> =>
  Effect.sync(() => {
    const db = new Database(path)
    try {
      return f(db)
    } finally {
      db.close()
    }
  })

conformance({
  name: "sqlite",
  durable: true,
  propertyRuns: 30,
  storage: Effect.map(tempDatabase, (path) => ({
    make: Effect.sync(() => SqliteSessionStore.make(path)),
    corrupt: {
      // A transaction commits whole or not at all: no torn record to simulate.
      damageRecord: (clientId) =>
        withDb(path, (db) => {
          const changed = db.prepare(
            `UPDATE aimeqtt_outgoing SET properties = '{"userProperties":[["a"' WHERE rowid =
               (SELECT MIN(rowid) FROM aimeqtt_outgoing WHERE client_id = ?)`
          ).run(clientId).changes
          assert.strictEqual(changed, 1)
        }),
      replaceWithGarbage: Effect.sync(() => {
        for (const suffix of ["-wal", "-shm"]) Fs.rmSync(path + suffix, { force: true })
        Fs.writeFileSync(path, Crypto.randomBytes(8192))
      })
    }
  }))
})

/** Opens `clientId`, loads, applies `changes`, closes; returns what it loaded. */
const session = (store: SessionStoreShape, clientId: string, changes: ReadonlyArray<StoreChange> = []) =>
  Effect.scoped(Effect.gen(function*() {
    const s = yield* store.open(clientId)
    const loaded = yield* s.load
    yield* s.apply(changes)
    return loaded
  }))

describe("SqliteSessionStore", () => {
  it.effect("a row with malformed properties JSON fails load with SessionStoreError naming the client, packet id and column", () =>
    Effect.gen(function*() {
      const path = yield* tempDatabase
      const store = SqliteSessionStore.make(path)
      yield* session(store, "meter/7", [put(flow(12, { properties: { contentType: "x" } }))])
      yield* withDb(path, (db) => db.prepare("UPDATE aimeqtt_outgoing SET properties = '{\"contentType\": ' WHERE packet_id = 12").run())
      const error = yield* Effect.flip(session(store, "meter/7"))
      assert.strictEqual(error._tag, "SessionStoreError")
      assert.include(error.message, '"meter/7"')
      assert.include(error.message, "packet id 12")
      assert.include(error.message, "properties")
    }))

  it.effect("rows with values out of range (stage, qos, packet id) fail load with SessionStoreError", () =>
    Effect.gen(function*() {
      const path = yield* tempDatabase
      const store = SqliteSessionStore.make(path)
      for (const [column, value] of [["stage", "'bogus'"], ["qos", "0"], ["packet_id", "70000"], ["retain", "2"]] as const) {
        const clientId = `bad-${column}`
        yield* session(store, clientId, [put(flow(1))])
        yield* withDb(path, (db) => db.prepare(`UPDATE aimeqtt_outgoing SET ${column} = ${value} WHERE client_id = ?`).run(clientId))
        const error = yield* Effect.flip(session(store, clientId))
        assert.strictEqual(error._tag, "SessionStoreError")
        assert.include(error.message, column)
      }
      yield* withDb(path, (db) => db.prepare("INSERT INTO aimeqtt_incoming (client_id, packet_id) VALUES ('bad-in', 0)").run())
      const error = yield* Effect.flip(session(store, "bad-in"))
      assert.include(error.message, "incoming packet id")
    }))

  it.effect("a file that is not a SQLite database, or a directory, at the path: open fails with SessionStoreError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("aimeqtt-sqlite-")
      const garbage = Path.join(dir, "garbage.db")
      Fs.writeFileSync(garbage, "this is not a database, just some text that is long enough to fill a header".repeat(20))
      const notDb = yield* Effect.flip(session(SqliteSessionStore.make(garbage), "c"))
      assert.strictEqual(notDb._tag, "SessionStoreError")
      assert.include(notDb.message, garbage)
      assert.include(notDb.message, "not a database")
      const directory = yield* Effect.flip(session(SqliteSessionStore.make(dir), "c"))
      assert.strictEqual(directory._tag, "SessionStoreError")
      const blocked = Path.join(garbage, "sub", "x.db") // a parent that is a file
      assert.strictEqual((yield* Effect.flip(session(SqliteSessionStore.make(blocked), "c")))._tag, "SessionStoreError")
    }))

  it.effect("each apply is one transaction: a change that SQLite refuses stores none of its batch", () =>
    Effect.gen(function*() {
      const path = yield* tempDatabase
      const store = SqliteSessionStore.make(path)
      yield* session(store, "tx", [put(flow(1))])
      // a packet id that is not an integer is refused by the STRICT table, after flow 2 was written
      const error = yield* Effect.flip(session(store, "tx", [put(flow(2)), put(flow(1.5))]))
      assert.include(error.message, "cannot write")
      // invalid properties are refused before anything is written
      const invalid = yield* Effect.flip(session(store, "tx", [put(flow(3)), put(flow(4, { properties: { messageExpiryInterval: -1 } }))]))
      assert.include(invalid.message, "packet id 4")
      const loaded = yield* session(store, "tx")
      assert.deepStrictEqual(normal(loaded), normal({ outgoing: [flow(1)], incoming: [] }))
    }))

  it.effect("the tables live next to a program's own; the database is in WAL mode", () =>
    Effect.gen(function*() {
      const path = yield* tempDatabase
      Fs.mkdirSync(Path.dirname(path), { recursive: true })
      yield* withDb(path, (db) => db.exec("CREATE TABLE readings (id INTEGER PRIMARY KEY, value REAL); INSERT INTO readings (value) VALUES (21.5)"))
      const store = SqliteSessionStore.make(path)
      yield* session(store, "gw", [put(flow(1))])
      assert.deepStrictEqual(yield* session(store, "gw").pipe(Effect.map((s) => s.outgoing.map((f) => f.packetId))), [1])
      yield* withDb(path, (db) => {
        assert.deepStrictEqual(db.prepare("SELECT value FROM readings").all(), [{ value: 21.5 }])
        assert.strictEqual(db.pragma("journal_mode", { simple: true }), "wal")
      })
    }))
})

/** Runs an ES module script in a new Node process (the client from source), with `env`. */
const node = (script: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  ChildProcess.spawnSync(process.execPath, ["--conditions=@aimeqtt/source", "--input-type=module", "-e", script.join(";\n")], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 20_000
  })

describe("SqliteSessionStore in a process of its own", () => {
  it.effect("a process killed (SIGKILL) right after apply completed: the next process loads the change", () =>
    Effect.gen(function*() {
      const path = yield* tempDatabase
      const child = node([
        "const { SqliteSessionStore } = await import('@aimeqtt/client')",
        "const { Effect } = await import('effect')",
        "const flow = { packetId: 7, stage: 'released', topic: 'killed/a', payload: new Uint8Array([1, 2, 3]), qos: 2, retain: true }",
        "await Effect.runPromise(Effect.scoped(Effect.gen(function*() {" +
        "  const store = yield* SqliteSessionStore.make(process.env.DB).open('killed');" +
        "  yield* store.load;" +
        "  yield* store.apply([{ _tag: 'PutOutgoing', flow: { ...flow, stage: 'sent' } }, { _tag: 'AddIncoming', packetId: 9 }]);" +
        "  yield* store.apply([{ _tag: 'PutOutgoing', flow }]);" +
        "  process.kill(process.pid, 'SIGKILL');" +
        "})))"
      ], { DB: path })
      assert.strictEqual(child.signal, "SIGKILL", child.stderr)
      const loaded = yield* session(SqliteSessionStore.make(path), "killed")
      assert.deepStrictEqual(normal(loaded), normal({
        outgoing: [{ packetId: 7, stage: "released", topic: "killed/a", payload: Uint8Array.of(1, 2, 3), qos: 2, retain: true }],
        incoming: [9]
      }))
    }), 30_000)

  it("importing @aimeqtt/client does not load better-sqlite3; opening a SqliteSessionStore does", () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-sqlite-lazy-"))
    try {
      const child = node([
        "const { createRequire } = await import('node:module')",
        "const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /better-sqlite3/.test(k)).length",
        "const { SqliteSessionStore } = await import('@aimeqtt/client')",
        "const { Effect } = await import('effect')",
        "const before = loaded()",
        "await Effect.runPromise(Effect.scoped(SqliteSessionStore.make(process.env.DB).open('c')))",
        "console.log(JSON.stringify({ before, after: loaded() }))"
      ], { DB: Path.join(dir, "x.db") })
      assert.strictEqual(child.status, 0, child.stderr)
      const { before, after } = JSON.parse(child.stdout.trim().split("\n").pop()!) as { before: number; after: number }
      assert.strictEqual(before, 0, "no module of better-sqlite3 after importing @aimeqtt/client")
      assert.isAbove(after, 0, "better-sqlite3 is loaded once a client opens the store")
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)
})

/** Reconnect fast: the proxy black-holes the connection mid-flow. */
const fast = { reconnect: Schedule.spaced("50 millis"), connectTimeout: "3 seconds", keepAlive: 10 } as const

describeMosquitto("SqliteSessionStore with a real client (mosquitto)", () => {
  for (const step of crashSteps) {
    const [type, direction] = step
    it.live(`a QoS 2 flow black-holed after ${type} goes ${direction}: the client rebuilt over the same database finishes it once`, () =>
      Effect.gen(function*() {
        const path = yield* tempDatabase
        yield* crashThenFinish("sqlite", step, {
          build: (scope, options) =>
            Layer.build(
              MqttClient.layer({ ...fast, ...options, connectTimeout: "5 seconds" }).pipe(Layer.provide(SqliteSessionStore.layer(path)))
            ).pipe(Effect.map((context) => Context.get(context, MqttClient)), Scope.provide(scope)),
          assertStored: (clientId, topic, stage) =>
            withDb(path, (db) => db.prepare("SELECT stage, topic FROM aimeqtt_outgoing WHERE client_id = ?").all(clientId)).pipe(
              Effect.map((rows) => assert.deepStrictEqual(rows, [{ stage, topic }]))
            ),
          assertEmpty: () =>
            withDb(path, (db) => db.prepare("SELECT COUNT(*) AS n FROM aimeqtt_outgoing").get()).pipe(
              Effect.map((left) => assert.deepStrictEqual(left, { n: 0 }))
            )
        })
      }), 30_000)
  }
})
