/**
 * A session store on disk (Node only): each client's session lives in `directory/<client id>.log`, an
 * append-only log of changes, each `fdatasync`ed before the client sends the packet it describes.
 *
 * @since 0.1.0
 */
import { PropertiesSchema } from "@aimeqtt/codec"
import { Effect, Layer, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { SessionStoreError } from "./errors.ts"
import { type ClientSessionStore, SessionState, SessionStore, type SessionStoreShape, type StoreChange } from "./SessionStore.ts"


/** MQTT 5.0 publish properties in a log line: JSON, with Correlation Data as base64. */
const PropertiesJson = Schema.toCodecJson(PropertiesSchema.Publish)
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

const attempt = <A>(message: string, f: () => A): A | SessionStoreError => {
  try {
    return f()
  } catch (cause) {
    return new SessionStoreError({ message: `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  }
}

/**
 * A store that keeps each client's session in `directory/<client id>.log`, an append-only log of
 * changes, each `fdatasync`ed before the client sends the packet it describes. The log is compacted
 * when it opens and every {@link COMPACT_AFTER} lines.
 *
 * @since 0.1.0
 * @category session stores
 */
export const make = (directory: string): SessionStoreShape => ({
  open: (clientId) =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        const path = Path.join(directory, `${encodeURIComponent(clientId) || "_empty"}.log`)
        const state = new SessionState()
        const loaded = attempt(`cannot read the session file ${path}`, () => {
          Fs.mkdirSync(directory, { recursive: true })
          if (!Fs.existsSync(path)) return
          for (const text of Fs.readFileSync(path, "utf8").split("\n")) {
            if (text === "") continue
            const line = decodeLine(text)
            // A torn last line (crash mid-append) is skipped: its packet was never sent.
            if (line._tag === "Some") state.apply(fromLine(line.value))
          }
        })
        if (loaded instanceof SessionStoreError) return Effect.fail(loaded)
        let fd = -1
        let lines = 0
        const rewrite = (): SessionStoreError | undefined => {
          const result = attempt(`cannot write the session file ${path}`, () => {
            const snapshot = state.snapshot()
            const body = [
              ...snapshot.outgoing.map((flow) => JSON.stringify(toLine({ _tag: "PutOutgoing", flow }))),
              ...snapshot.incoming.map((id) => JSON.stringify(toLine({ _tag: "AddIncoming", packetId: id })))
            ].map((line) => line + "\n").join("")
            const temporary = `${path}.tmp`
            Fs.writeFileSync(temporary, body)
            const tmpFd = Fs.openSync(temporary, "r")
            Fs.fsyncSync(tmpFd)
            Fs.closeSync(tmpFd)
            if (fd >= 0) Fs.closeSync(fd)
            Fs.renameSync(temporary, path) // atomic: a crash leaves the old or the new log
            fd = Fs.openSync(path, "a")
            lines = snapshot.outgoing.length + snapshot.incoming.length
          })
          return result instanceof SessionStoreError ? result : undefined
        }
        const opened = rewrite()
        if (opened !== undefined) return Effect.fail(opened)
        const done = (result: SessionStoreError | undefined): Effect.Effect<void, SessionStoreError> =>
          result === undefined ? Effect.void : Effect.fail(result)
        const store: ClientSessionStore = {
          load: Effect.sync(() => state.snapshot()),
          apply: (changes) =>
            Effect.suspend(() => {
              if (changes.length === 0) return Effect.void
              for (const change of changes) state.apply(change)
              lines += changes.length
              if (lines > COMPACT_AFTER + state.outgoing.size + state.incoming.size) return done(rewrite())
              const result = attempt(`cannot write the session file ${path}`, () => {
                Fs.writeSync(fd, changes.map((change) => JSON.stringify(toLine(change)) + "\n").join(""))
                Fs.fdatasyncSync(fd)
              })
              return done(result instanceof SessionStoreError ? result : undefined)
            }),
          clear: Effect.suspend(() => {
            state.clear()
            return done(rewrite())
          })
        }
        return Effect.succeed({ store, close: () => { if (fd >= 0) Fs.closeSync(fd) } })
      }),
      ({ close }) => Effect.sync(() => attempt("cannot close the session file", close))
    ).pipe(Effect.map(({ store }) => store))
})

/**
 * Provides the file-backed {@link SessionStore}: `MqttClient.layer(options).pipe(Layer.provide(FileSessionStore.layer(dir)))`.
 *
 * @since 0.1.0
 * @category session stores
 */
export const layer = (directory: string): Layer.Layer<never> => Layer.succeed(SessionStore, make(directory))
