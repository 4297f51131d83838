/**
 * A session store on disk (Node only): each client's session lives in a file of `directory` named after
 * the client id ({@link fileName}), an append-only log of changes, each `fdatasync`ed before the client
 * sends the packet it describes.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as FsP from "node:fs/promises"
import * as Path from "node:path"
import { SessionStoreError } from "./errors.ts"
import { PropertiesJson } from "./StoredProperties.ts"
import { type ClientSessionStore, SessionState, SessionStore, type SessionStoreShape, type StoreChange } from "./SessionStore.ts"


/** MQTT 5.0 publish properties in a log line: JSON, with Correlation Data as base64. */
const encodeProperties = Schema.encodeSync(PropertiesJson)

const LogLineSchema = Schema.Union([
  Schema.Struct({
    op: Schema.Literal("put"),
    id: Schema.Number,
    stage: Schema.Literals(["sent", "released"]),
    topic: Schema.String,
    payload: Schema.String,
    qos: Schema.Literals([1, 2]),
    retain: Schema.Boolean,
    props: Schema.optionalKey(PropertiesJson)
  }),
  Schema.Struct({ op: Schema.Literals(["del", "in", "rel"]), id: Schema.Number }),
  Schema.Struct({ op: Schema.Literal("clear-in") })
])

/** A line as read back (properties decoded) and as written (properties as JSON). */
type LogLine = typeof LogLineSchema.Type
type EncodedLogLine = typeof LogLineSchema.Encoded

const toLine = (change: StoreChange): EncodedLogLine => {
  switch (change._tag) {
    case "PutOutgoing": {
      const f = change.flow
      return {
        op: "put",
        id: f.packetId,
        stage: f.stage,
        topic: f.topic,
        payload: Buffer.from(f.payload).toString("base64"),
        qos: f.qos,
        retain: f.retain,
        ...(f.properties !== undefined ? { props: encodeProperties(f.properties) } : {})
      }
    }
    case "DeleteOutgoing":
      return { op: "del", id: change.packetId }
    case "AddIncoming":
      return { op: "in", id: change.packetId }
    case "DeleteIncoming":
      return { op: "rel", id: change.packetId }
    case "ClearIncoming":
      return { op: "clear-in" }
  }
}

const fromLine = (line: LogLine): StoreChange => {
  switch (line.op) {
    case "put":
      return {
        _tag: "PutOutgoing",
        flow: {
          packetId: line.id,
          stage: line.stage,
          topic: line.topic,
          payload: new Uint8Array(Buffer.from(line.payload, "base64")),
          qos: line.qos,
          retain: line.retain,
          ...(line.props !== undefined ? { properties: line.props } : {})
        }
      }
    case "del":
      return { _tag: "DeleteOutgoing", packetId: line.id }
    case "in":
      return { _tag: "AddIncoming", packetId: line.id }
    case "rel":
      return { _tag: "DeleteIncoming", packetId: line.id }
    case "clear-in":
      return { _tag: "ClearIncoming" }
  }
}

const decodeLine = Schema.decodeUnknownOption(Schema.fromJsonString(LogLineSchema))

/** Rewrite the log from the state once it holds this many lines more than the state needs. */
const COMPACT_AFTER = 10_000

/** A file system call as an Effect; its failure a {@link SessionStoreError} that names the file. */
const io = <A>(message: string, f: () => Promise<A>): Effect.Effect<A, SessionStoreError> =>
  Effect.tryPromise({
    try: f,
    catch: (cause) => new SessionStoreError({ message: `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })

/** The log's text, or "" when there is none yet. */
const readLog = (path: string): Promise<string> =>
  FsP.readFile(path, "utf8").catch((cause: unknown) =>
    typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ENOENT" ? "" : Promise.reject(cause)
  )

/** Writes `body` to `path` durably: a temporary file, synced, renamed over it, the directory synced. */
const replaceDurably = async (path: string, body: string): Promise<void> => {
  const temporary = `${path}.tmp`
  const file = await FsP.open(temporary, "w")
  try {
    await file.writeFile(body)
    await file.sync()
  } finally {
    await file.close()
  }
  await FsP.rename(temporary, path) // atomic: a crash leaves the old or the new log
  const directory = await FsP.open(Path.dirname(path), "r")
  try {
    await directory.sync() // the rename itself survives a power loss
  } finally {
    await directory.close()
  }
}

/**
 * A store that keeps each client's session in `directory/`{@link fileName}`(client id)`, an append-only log of
 * changes; an `apply` appends its lines and completes once they are `fdatasync`ed. The file system calls
 * are asynchronous: while one write is on its way to the disk, the steps that pile up are written
 * together by the next `apply` (the client's group commit). The log is compacted when it opens and
 * every {@link COMPACT_AFTER} lines.
 *
 * @since 0.1.0
 * @category session stores
 */
export const make = (directory: string): SessionStoreShape => {
  /** The clients open through this store: a second `open` of one client id shares the first one's log. */
  const open = new Map<string, { readonly store: ClientSessionStore; readonly close: Effect.Effect<void>; users: number }>()
  return {
    open: (clientId) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const shared = open.get(clientId)
          if (shared !== undefined) {
            shared.users++
            return Effect.succeed(shared)
          }
          return Effect.map(openLog(directory, clientId), (opened) => {
            const entry = { ...opened, users: 1 }
            open.set(clientId, entry)
            return entry
          })
        }),
        (entry) =>
          Effect.suspend(() => {
            if (--entry.users > 0) return Effect.void
            open.delete(clientId)
            return entry.close
          })
      ).pipe(Effect.map((entry) => entry.store))
  }
}

/**
 * The log's file name: the URI-encoded client id (readable, at most 96 characters of it) and a SHA-256
 * prefix of the id, so that no two ids share a file (not "" and "_empty", not "A" and "a" on a
 * case-insensitive file system) and an id of any length (up to 65,535 bytes [MQTT-3.1.3-5]) fits in a
 * file name (255 bytes).
 *
 * @since 0.4.0
 * @category session stores
 */
export const fileName = (clientId: string): string => {
  const encoded = encodeURIComponent(clientId)
  // Cut before a `%XX` escape, never inside one.
  const readable = encoded.length <= 96 ? encoded : encoded.slice(0, 96).replace(/%[0-9A-F]?$/, "")
  return `${readable}-${Crypto.createHash("sha256").update(clientId).digest("hex").slice(0, 16)}.log`
}

/** The file name of versions before 0.4 (`encodeURIComponent(id)`, or `_empty`): moved to {@link fileName} on open. */
const legacyFileName = (clientId: string): string => `${encodeURIComponent(clientId) || "_empty"}.log`

/** Opens one client's log: reads it, rewrites it compacted, and keeps it open for appending. */
const openLog = (directory: string, clientId: string): Effect.Effect<{ readonly store: ClientSessionStore; readonly close: Effect.Effect<void> }, SessionStoreError> => {
  const path = Path.join(directory, fileName(clientId))
  const legacy = Path.join(directory, legacyFileName(clientId))
  const state = new SessionState()
  let file: FsP.FileHandle | undefined
  let lines = 0
  const closeFile = Effect.suspend(() => {
    const handle = file
    file = undefined
    return handle === undefined ? Effect.void : io(`cannot close the session file ${path}`, () => handle.close())
  })
  /** Replaces the log by the state's lines and opens it for appending. */
  const rewrite = Effect.suspend(() => {
    const snapshot = state.snapshot()
    const body = [
      ...snapshot.outgoing.map((flow) => JSON.stringify(toLine({ _tag: "PutOutgoing", flow }))),
      ...snapshot.incoming.map((id) => JSON.stringify(toLine({ _tag: "AddIncoming", packetId: id })))
    ].map((line) => line + "\n").join("")
    return closeFile.pipe(
      Effect.andThen(io(`cannot write the session file ${path}`, () => replaceDurably(path, body))),
      Effect.andThen(io(`cannot open the session file ${path}`, () => FsP.open(path, "a"))),
      Effect.map((opened) => {
        file = opened
        lines = snapshot.outgoing.length + snapshot.incoming.length
      })
    )
  })
  const load = io(`cannot read the session file ${path}`, async () => {
    await FsP.mkdir(directory, { recursive: true })
    const text = await readLog(path)
    // A log of an earlier version, under its old name: read here, written under the new name below.
    if (text !== "" || legacy === path || Buffer.byteLength(Path.basename(legacy)) > 255) return { text, legacy: false }
    const old = await readLog(legacy)
    return { text: old, legacy: old !== "" }
  }).pipe(Effect.flatMap(({ text, legacy: migrated }) => {
    const lines = text.split("\n")
    // The text after the last newline: a line the crash tore mid-append, or "" after a whole one.
    const last = lines.length - 1
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string
      if (line === "") continue
      const decoded = decodeLine(line)
      if (decoded._tag === "Some") state.apply(fromLine(decoded.value))
      // A torn last line is skipped: its packet was never sent. A damaged line before it is not a crash
      // (every open rewrites the log whole): skipping it could drop a flow, so the store does not open.
      else if (i !== last) {
        return Effect.fail(
          new SessionStoreError({
            message: `the session file ${migrated ? legacy : path} is damaged at line ${i + 1} (not a torn last line): ` +
              "restore it from a backup, or remove it to start without the stored flows"
          })
        )
      }
    }
    return Effect.succeed(migrated)
  }))
  const store: ClientSessionStore = {
    load: Effect.sync(() => state.snapshot()),
    apply: (changes) =>
      Effect.suspend(() => {
        if (changes.length === 0) return Effect.void
        for (const change of changes) state.apply(change)
        lines += changes.length
        const handle = file
        // After a failed write the log is rewritten whole: the state is what must be on disk.
        if (handle === undefined || lines > COMPACT_AFTER + state.outgoing.size + state.incoming.size) return rewrite
        const text = changes.map((change) => JSON.stringify(toLine(change)) + "\n").join("")
        return io(`cannot write the session file ${path}`, async () => {
          await handle.write(text)
          await handle.datasync()
        }).pipe(Effect.tapError(() => closeFile.pipe(Effect.ignore)))
      }),
    clear: Effect.suspend(() => {
      state.clear()
      return rewrite
    })
  }
  return load.pipe(
    Effect.tap(() => rewrite),
    // The new log is durable: the old one can go.
    Effect.tap((migrated) => migrated ? io(`cannot remove the old session file ${legacy}`, () => FsP.rm(legacy, { force: true })) : Effect.void),
    Effect.as({ store, close: closeFile.pipe(Effect.ignore) })
  )
}

/**
 * Provides the file-backed {@link SessionStore}: `MqttClient.layer(options).pipe(Layer.provide(FileSessionStore.layer(dir)))`.
 *
 * @since 0.1.0
 * @category session stores
 */
export const layer = (directory: string): Layer.Layer<never> => Layer.succeed(SessionStore, make(directory))
