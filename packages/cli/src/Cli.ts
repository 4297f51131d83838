/**
 * The `aimeqtt` command line: `aimeqtt pub` and `aimeqtt sub`, in the habits of `mosquitto_pub` and
 * `mosquitto_sub`, built with `effect/cli` on top of `@aimeqtt/client`.
 *
 * Exported for in-process use and tests; `bin.ts` only runs {@link main} with the Node services.
 *
 * @since 0.1.0
 */
import { type ClientOptions, type Message, MqttClient, type MqttError, type TlsOptions } from "@aimeqtt/client"
import { topicFilterError, topicNameError } from "@aimeqtt/codec"
import { Config, Console, Data, Duration, Effect, FileSystem, Logger, Option, type PlatformError, Redacted, Runtime, Stdio, Stream } from "effect"
import { Command, Flag } from "effect/cli"

/** The version printed by `aimeqtt --version` (kept equal to package.json's). @since 0.1.0 */
export const VERSION = "0.1.0"

/**
 * Process exit codes of `aimeqtt`.
 *
 * A refused connection exits with the CONNACK return code, like `mosquitto_pub`/`mosquitto_sub`
 * (1 unacceptable protocol version, 2 identifier rejected, 3 server unavailable, 4 bad user name or
 * password, 5 not authorized), so 1 and 2 are shared with the general codes below; the message on
 * stderr tells them apart.
 *
 * @since 0.1.0
 */
export const ExitCode = {
  /** Done: published, or received the `-C` messages. */
  ok: 0,
  /** The broker could not be reached in time (`--connect-timeout`), or the connection failed later. */
  connectFailed: 1,
  /** Bad usage: unknown or missing flags, invalid topic, invalid URL, unreadable file. */
  usage: 2,
  /** Stopped by SIGINT / SIGTERM (after a clean DISCONNECT). */
  interrupted: 130
} as const

/**
 * A failure already explained to the user: carries the message (printed once on stderr by
 * {@link main}) and the process exit code (read by `NodeRuntime.runMain` through
 * `Runtime.errorExitCode`; `Runtime.errorReported` is false so the runtime does not log it again).
 *
 * @since 0.1.0
 */
export class CliFailure extends Data.TaggedError("CliFailure")<{
  readonly message: string
  readonly exitCode: number
}> {
  /** Exit code used by `NodeRuntime.runMain`'s default teardown. */
  override get [Runtime.errorExitCode](): number {
    return this.exitCode
  }
  /** Already printed: the runtime must not log it. */
  override get [Runtime.errorReported](): boolean {
    return false
  }
}

const usage = (message: string) => new CliFailure({ message, exitCode: ExitCode.usage })

// --- flags shared by pub and sub ------------------------------------------------------------------

const qos = Flag.ChoiceWithValue("qos", [["0", 0], ["1", 1], ["2", 2]] as const).pipe(
  Flag.withAlias("q"),
  Flag.withDescription("Quality of service: 0, 1 or 2 (default 0)"),
  Flag.withDefault(0 as const)
)

/** Connection flags accepted by every subcommand. @since 0.1.0 */
export const connectionFlags = {
  url: Flag.String("url").pipe(
    Flag.withAlias("L"),
    Flag.withDescription("Broker URL: mqtt://, mqtts://, ws:// or wss://host:port (instead of --host/--port)"),
    Flag.optional
  ),
  host: Flag.String("host").pipe(
    Flag.withAlias("H"),
    Flag.withDescription("Broker host (default localhost; -h is --help)"),
    Flag.optional
  ),
  port: Flag.Int("port").pipe(
    Flag.withAlias("p"),
    Flag.withDescription("Broker port (default 1883, or 8883 with TLS flags)"),
    Flag.optional
  ),
  username: Flag.String("username").pipe(Flag.withAlias("u"), Flag.withDescription("User name"), Flag.optional),
  password: Flag.Redacted("password").pipe(
    Flag.withAlias("P"),
    Flag.withDescription("Password (default: env MQTT_PASSWORD, used only with --username); never printed"),
    Flag.optional
  ),
  clientId: Flag.String("id").pipe(
    Flag.withAlias("i"),
    Flag.withDescription("Client id (default: aimeqtt_ + random)"),
    Flag.optional
  ),
  keepAlive: Flag.Int("keepalive").pipe(
    Flag.withAlias("k"),
    Flag.withDescription("Keep-alive in seconds, 0..65535 (default 60)"),
    Flag.withDefault(60)
  ),
  connectTimeout: Flag.Finite("connect-timeout").pipe(
    Flag.withDescription("Give up connecting after this many seconds, retries included (default 10)"),
    Flag.withDefault(10)
  ),
  cafile: Flag.String("cafile").pipe(
    Flag.withDescription("TLS: PEM file of the CA certificate(s) to trust (enables TLS)"),
    Flag.optional
  ),
  cert: Flag.String("cert").pipe(Flag.withDescription("TLS: PEM client certificate file (enables TLS)"), Flag.optional),
  key: Flag.String("key").pipe(Flag.withDescription("TLS: PEM client private key file (enables TLS)"), Flag.optional),
  servername: Flag.String("servername").pipe(
    Flag.withDescription("TLS: server name for SNI and certificate checks (default: the host)"),
    Flag.optional
  ),
  insecure: Flag.Boolean("insecure").pipe(
    Flag.withDescription("TLS: do not verify the server certificate (enables TLS)"),
    Flag.withDefault(false)
  )
} as const

/** The parsed {@link connectionFlags}. @since 0.1.0 */
export type ConnectionFlags = Command.Command.Config.Infer<typeof connectionFlags>

/** What {@link clientOptions} resolves: the client options and the broker address to show in messages. @since 0.1.0 */
export interface ResolvedConnection {
  readonly options: ClientOptions
  /** `scheme://host:port`, without credentials (safe to print). */
  readonly address: string
}

const some = <K extends string, A>(key: K, value: Option.Option<A>): { [P in K]?: A } =>
  Option.match(value, { onNone: () => ({}), onSome: (a) => ({ [key]: a }) as { [P in K]?: A } })

const readText = (path: string, what: string): Effect.Effect<string, CliFailure, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    return yield* fs.readFileString(path)
  }).pipe(Effect.mapError((error) => usage(`cannot read ${what} ${path}: ${error.message}`)))

/**
 * Turns the connection flags into client options: builds the URL from `--host`/`--port` unless
 * `--url` is given (TLS flags switch to `mqtts://`, port 8883), reads the TLS files, takes the
 * password from `-P` or `MQTT_PASSWORD`, and checks everything the client would otherwise reject
 * as a connection error. Fails with a usage {@link CliFailure}.
 *
 * @since 0.1.0
 */
export const clientOptions = (
  flags: ConnectionFlags
): Effect.Effect<ResolvedConnection, CliFailure, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const wantsTls = Option.isSome(flags.cafile) || Option.isSome(flags.cert) || Option.isSome(flags.key) ||
      Option.isSome(flags.servername) || flags.insecure
    let url: string
    if (Option.isSome(flags.url)) {
      if (Option.isSome(flags.host) || Option.isSome(flags.port)) {
        return yield* usage("--url cannot be combined with --host/--port")
      }
      url = flags.url.value
    } else {
      const host = Option.getOrElse(flags.host, () => "localhost")
      const port = Option.getOrElse(flags.port, () => (wantsTls ? 8883 : 1883))
      if (!Number.isInteger(port) || port < 1 || port > 65535) return yield* usage(`invalid port ${port}: expected 1..65535`)
      url = `${wantsTls ? "mqtts" : "mqtt"}://${host.includes(":") ? `[${host}]` : host}:${port}`
    }
    if (!URL.canParse(url)) return yield* usage(`invalid broker URL ${JSON.stringify(url)}`)
    const parsed = new URL(url)
    const secure = ["mqtts:", "ssl:", "tls:", "wss:"].includes(parsed.protocol)
    if (!secure && !["mqtt:", "tcp:", "ws:"].includes(parsed.protocol)) {
      return yield* usage(`unsupported URL scheme ${JSON.stringify(parsed.protocol)} (use mqtt://, mqtts://, ws:// or wss://)`)
    }
    if (wantsTls && !secure) return yield* usage(`TLS flags need a TLS URL (mqtts:// or wss://), got ${parsed.protocol}//`)
    const address = `${parsed.protocol}//${parsed.host}`
    if (flags.keepAlive < 0 || flags.keepAlive > 65535) {
      return yield* usage(`invalid keep-alive ${flags.keepAlive}: expected 0..65535 seconds`)
    }
    if (!(flags.connectTimeout > 0)) return yield* usage(`invalid connect timeout ${flags.connectTimeout}: expected > 0 seconds`)

    const username = Option.orElse(flags.username, () =>
      parsed.username === "" ? Option.none() : Option.some(decodeURIComponent(parsed.username)))
    let password = flags.password
    if (Option.isSome(password) && Option.isNone(username)) {
      return yield* usage("a password needs a username (-u) [MQTT-3.1.2-22]")
    }
    if (Option.isNone(password) && Option.isSome(flags.username)) {
      const fromEnv = yield* Config.option(Config.Redacted("MQTT_PASSWORD")).pipe(
        Effect.mapError((error) => usage(`invalid MQTT_PASSWORD: ${error.message}`))
      )
      password = fromEnv
    }

    let tls: TlsOptions | undefined
    if (wantsTls) {
      tls = {
        ...(Option.isSome(flags.cafile) ? { ca: yield* readText(flags.cafile.value, "CA file") } : {}),
        ...(Option.isSome(flags.cert) ? { cert: yield* readText(flags.cert.value, "certificate file") } : {}),
        ...(Option.isSome(flags.key) ? { key: Redacted.make(yield* readText(flags.key.value, "key file")) } : {}),
        ...some("servername", flags.servername),
        ...(flags.insecure ? { rejectUnauthorized: false } : {})
      }
    }

    const options: ClientOptions = {
      url,
      ...some("username", flags.username),
      ...some("password", password),
      ...some("clientId", flags.clientId),
      keepAlive: flags.keepAlive,
      connectTimeout: Duration.seconds(flags.connectTimeout),
      ...(tls !== undefined ? { tls } : {})
    }
    return { options, address }
  })

/**
 * Explains an error of the client (or of stdin/file I/O) as a {@link CliFailure} with its exit code.
 *
 * @since 0.1.0
 */
export const toFailure = (error: MqttError | PlatformError.PlatformError | CliFailure, address: string): CliFailure => {
  switch (error._tag) {
    case "CliFailure":
      return error
    case "ConnectionRefused":
      return new CliFailure({
        message: `Connection refused: ${error.reason} (CONNACK return code ${error.returnCode})`,
        exitCode: error.returnCode
      })
    case "ConnectError":
      return new CliFailure({
        // the client's message usually reads "could not connect within Ns: could not connect to URL: cause"
        message: error.message.includes("could not connect") ? error.message : `could not connect to ${address}: ${error.message}`,
        exitCode: ExitCode.connectFailed
      })
    case "ConnectionLost":
      return new CliFailure({ message: `connection to ${address} lost: ${error.message}`, exitCode: ExitCode.connectFailed })
    case "InvalidTopic":
      return new CliFailure({
        message: `invalid topic ${JSON.stringify(error.topic)}: ${error.reason}`,
        exitCode: ExitCode.usage
      })
    case "PlatformError":
      return new CliFailure({ message: `I/O error: ${error.message}`, exitCode: ExitCode.connectFailed })
    default:
      return new CliFailure({ message: error.message, exitCode: ExitCode.connectFailed })
  }
}

/** Fails with a usage {@link CliFailure} (exit 2) when a topic name or filter is invalid, before connecting. */
const checkTopics = (topics: ReadonlyArray<string>, check: (topic: string) => string | undefined): Effect.Effect<void, CliFailure> => {
  for (const topic of topics) {
    const reason = check(topic)
    if (reason !== undefined) return Effect.fail(usage(`invalid topic ${JSON.stringify(topic)}: ${reason}`))
  }
  return Effect.void
}

/** Runs `use` with a connected client; the client disconnects (DISCONNECT) when `use` ends or is interrupted. */
const withClient = <R>(
  flags: ConnectionFlags,
  use: (client: MqttClient["Service"]) => Effect.Effect<void, MqttError | PlatformError.PlatformError | CliFailure, R>
): Effect.Effect<void, CliFailure, R | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const { options, address } = yield* clientOptions(flags)
    yield* Effect.gen(function*() {
      return yield* use(yield* MqttClient)
    }).pipe(
      Effect.provide(MqttClient.layer(options)),
      Effect.mapError((error) => toFailure(error, address))
    )
  })

/** Prints a failure on stderr, then fails with it (so the exit code reaches the runtime). */
const report = <A, R>(effect: Effect.Effect<A, CliFailure, R>): Effect.Effect<A, CliFailure, R> =>
  Effect.tapError(effect, (failure) => Console.error(`aimeqtt: ${failure.message}`))

// --- pub ----------------------------------------------------------------------------------------

const utf8 = new TextEncoder()

/** `aimeqtt pub`: connect, publish (waiting for the QoS 1/2 flow), disconnect. @since 0.1.0 */
export const pub = Command.make("pub", {
  ...connectionFlags,
  topic: Flag.String("topic").pipe(Flag.withAlias("t"), Flag.withDescription("Topic to publish to (no wildcards)")),
  qos,
  retain: Flag.Boolean("retain").pipe(
    Flag.withAlias("r"),
    Flag.withDescription("Ask the broker to retain the message"),
    Flag.withDefault(false)
  ),
  message: Flag.String("message").pipe(Flag.withAlias("m"), Flag.withDescription("The message payload"), Flag.optional),
  file: Flag.String("file").pipe(
    Flag.withAlias("f"),
    Flag.withDescription("Send the contents of a file as the message"),
    Flag.optional
  ),
  lines: Flag.Boolean("stdin-line").pipe(
    Flag.withAlias("l"),
    Flag.withDescription("Read stdin until EOF and send each non-empty line as a message"),
    Flag.withDefault(false)
  ),
  stdinFile: Flag.Boolean("stdin-file").pipe(
    Flag.withAlias("s"),
    Flag.withDescription("Read stdin until EOF and send it all as one message"),
    Flag.withDefault(false)
  ),
  nullMessage: Flag.Boolean("null-message").pipe(
    Flag.withAlias("n"),
    Flag.withDescription("Send a null (zero-length) message"),
    Flag.withDefault(false)
  )
}, (c) =>
  Effect.gen(function*() {
    const sources = [Option.isSome(c.message), Option.isSome(c.file), c.lines, c.stdinFile, c.nullMessage].filter(Boolean).length
    if (sources !== 1) {
      return yield* usage("give exactly one message source: -m MESSAGE, -f FILE, -l, -s or -n")
    }
    yield* checkTopics([c.topic], topicNameError)
    const options = { qos: c.qos, retain: c.retain }
    let fileBytes: Uint8Array = new Uint8Array(0)
    if (Option.isSome(c.file)) {
      const fs = yield* FileSystem.FileSystem
      const path = c.file.value
      fileBytes = yield* fs.readFile(path).pipe(Effect.mapError((error) => usage(`cannot read file ${path}: ${error.message}`)))
    }
    const stdio = yield* Stdio.Stdio
    yield* withClient(c, (client) => {
      if (c.lines) {
        return stdio.stdin.pipe(
          Stream.decodeText,
          Stream.splitLines,
          Stream.filter((line) => line.length > 0),
          Stream.runForEach((line) => client.publish(c.topic, line, options))
        )
      }
      if (c.stdinFile) {
        return Stream.runCollect(stdio.stdin).pipe(
          Effect.flatMap((chunks) => client.publish(c.topic, concat(chunks), options))
        )
      }
      const payload = Option.isSome(c.message) ? utf8.encode(c.message.value) : fileBytes
      return client.publish(c.topic, payload, options)
    })
  }).pipe(report)).pipe(
    Command.withDescription(
      "Publish a message (like mosquitto_pub). Exactly one of -m, -f, -l, -s, -n. " +
        "Exit codes: 0 ok, 1 unreachable broker, 2 usage/invalid topic, 1-5 CONNACK refusal code (5 not authorized), 130 interrupted."
    )
  )

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

// --- sub ----------------------------------------------------------------------------------------

/** The line `aimeqtt sub` prints for a message. @since 0.1.0 */
export const formatMessage = (message: Message, format: { readonly verbose: boolean; readonly json: boolean }): string => {
  if (format.json) {
    return JSON.stringify({ topic: message.topic, payload: message.text, qos: message.qos, retain: message.retain })
  }
  return format.verbose ? `${message.topic} ${message.text}` : message.text
}

/** `aimeqtt sub`: subscribe and print messages, until `-C` messages arrived or interrupted. @since 0.1.0 */
export const sub = Command.make("sub", {
  ...connectionFlags,
  topics: Flag.String("topic").pipe(
    Flag.withAlias("t"),
    Flag.withDescription("Topic filter to subscribe to (repeatable; + and # allowed)"),
    Flag.atLeast(1)
  ),
  qos,
  count: Flag.Int("count").pipe(
    Flag.withAlias("C"),
    Flag.withDescription("Exit after this many messages (default: run until interrupted)"),
    Flag.optional
  ),
  verbose: Flag.Boolean("verbose").pipe(
    Flag.withAlias("V"),
    Flag.withDescription("Print \"topic payload\" (mosquitto_sub -v; -v is --version here)"),
    Flag.withDefault(false)
  ),
  json: Flag.Boolean("json").pipe(
    Flag.withAlias("j"),
    Flag.withDescription("Print one JSON object per message: {topic, payload, qos, retain}"),
    Flag.withDefault(false)
  )
}, (c) =>
  Effect.gen(function*() {
    if (Option.isSome(c.count) && c.count.value < 1) return yield* usage(`invalid count ${c.count.value}: expected >= 1`)
    yield* checkTopics(c.topics, topicFilterError)
    yield* withClient(c, (client) => {
      const messages = client.subscribe(c.topics, { qos: c.qos })
      const limited = Option.isSome(c.count) ? Stream.take(messages, c.count.value) : messages
      return Stream.runForEach(limited, (message) => Console.log(formatMessage(message, c)))
    })
  }).pipe(report)).pipe(
    Command.withDescription(
      "Subscribe and print messages (like mosquitto_sub). " +
        "Exit codes: 0 ok, 1 unreachable broker, 2 usage/invalid topic, 1-5 CONNACK refusal code (5 not authorized), 130 interrupted."
    )
  )

/** The `aimeqtt` command with its `pub` and `sub` subcommands. @since 0.1.0 */
export const app = Command.make("aimeqtt").pipe(
  Command.withDescription("MQTT 3.1.1 command-line client: aimeqtt pub / aimeqtt sub"),
  Command.withSubcommands([pub, sub])
)

/**
 * Runs {@link app} on `argv` (default: the process arguments, from the `Stdio` service).
 * Parse errors (already printed with the help) become a usage {@link CliFailure} (exit 2); a bare
 * `aimeqtt` prints the help and succeeds. Logs (e.g. the client's `--insecure` warning) go to stderr,
 * keeping stdout for the messages of `sub`.
 *
 * @since 0.1.0
 */
export const main = (
  argv?: ReadonlyArray<string>
): Effect.Effect<void, CliFailure, Command.Environment> =>
  (argv === undefined ? Command.run(app, { version: VERSION }) : Command.runWith(app, { version: VERSION })(argv)).pipe(
    Effect.catch((error) => {
      if (error._tag === "CliFailure") return Effect.fail(error)
      if (error._tag === "ShowHelp" && error.errors.length === 0) return Effect.void
      return Effect.fail(new CliFailure({ message: error.message, exitCode: ExitCode.usage }))
    }),
    Effect.provideService(Logger.LogToStderr, true)
  )
