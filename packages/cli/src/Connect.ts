/**
 * The connection flags shared by `pub` and `sub`, and running a command with a connected client.
 *
 * @since 0.1.0
 */
import { type ClientOptions, MqttClient, type MqttError, parseUrl, type TlsOptions, type TlsVersion, Transport, type WillOptions } from "@aimeqtt/client"
import { mqttStringError, outgoingTopicNameError } from "@aimeqtt/codec"
import { Config, Duration, Effect, FileSystem, Option, type PlatformError, Redacted, Stdio } from "effect"
import { Command, Flag } from "effect/cli"
import { combineObservers, debugObserver, type PacketObserver } from "./Debug.ts"
import { CliFailure, toFailure, usage } from "./Failure.ts"

// --- flags shared by pub and sub ------------------------------------------------------------------

/** The `-q/--qos` flag. @since 0.1.0 @category connection */
export const qos = Flag.ChoiceWithValue("qos", [["0", 0], ["1", 1], ["2", 2]] as const).pipe(
  Flag.withAlias("q"),
  Flag.withDescription("Quality of service: 0, 1 or 2 (default 0)"),
  Flag.withDefault(0 as const)
)

/** Connection flags accepted by every subcommand. @since 0.1.0 @category connection */
export const connectionFlags = {
  url: Flag.String("url").pipe(
    Flag.withAlias("L"),
    Flag.withDescription("Broker URL: mqtt://, mqtts://, ws:// or wss://host:port, or mqtt+unix:///path/to/socket (instead of --host/--port)"),
    Flag.optional
  ),
  host: Flag.String("host").pipe(
    Flag.withAlias("H"),
    Flag.withDescription("Broker host (default localhost; -h is --help)"),
    Flag.optional
  ),
  unix: Flag.String("unix").pipe(
    Flag.withDescription("Connect through this Unix domain socket instead of TCP, e.g. /run/mosquitto/mqtt.sock (mosquitto's --unix)"),
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
  protocolVersion: Flag.ChoiceWithValue("protocol-version", [["mqttv311", 4], ["311", 4], ["4", 4], ["mqttv5", 5], ["5", 5]] as const).pipe(
    Flag.withDescription("MQTT version (mosquitto's -V; -V is --verbose here): mqttv311 (default) or mqttv5 (also 4 or 5)"),
    Flag.withDefault(4 as const)
  ),
  keepAlive: Flag.Int("keepalive").pipe(
    Flag.withAlias("k"),
    Flag.withDescription("Keep-alive in seconds, 0..65535 (default 60)"),
    Flag.withDefault(60)
  ),
  connectTimeout: Flag.Finite("connect-timeout").pipe(
    Flag.withDescription("Give up connecting after this many seconds (each attempt; with --retry, retries included) (default 10)"),
    Flag.withDefault(10)
  ),
  retry: Flag.Boolean("retry").pipe(
    Flag.withDescription("Retry a failed first connection until --connect-timeout (default: fail at once, as mosquitto)"),
    Flag.withDefault(false)
  ),
  disableCleanSession: Flag.Boolean("disable-clean-session").pipe(
    Flag.withAlias("c"),
    Flag.withDescription("Persistent session: the broker keeps subscriptions and QoS 1/2 messages while away (needs --id)"),
    Flag.withDefault(false)
  ),
  willTopic: Flag.String("will-topic").pipe(
    Flag.withDescription("Topic of the last will, published by the broker if the connection drops without DISCONNECT"),
    Flag.optional
  ),
  willPayload: Flag.String("will-payload").pipe(
    Flag.withDescription("Payload of the last will (default: empty; needs --will-topic)"),
    Flag.optional
  ),
  willQos: Flag.ChoiceWithValue("will-qos", [["0", 0], ["1", 1], ["2", 2]] as const).pipe(
    Flag.withDescription("QoS of the last will: 0, 1 or 2 (default 0; needs --will-topic)"),
    Flag.optional
  ),
  willRetain: Flag.Boolean("will-retain").pipe(
    Flag.withDescription("Retain the last will (needs --will-topic)"),
    Flag.withDefault(false)
  ),
  debug: Flag.Boolean("debug").pipe(
    Flag.withAlias("d"),
    Flag.withDescription("Print every packet sent and received on stderr, as mosquitto -d (never a password)"),
    Flag.withDefault(false)
  ),
  cafile: Flag.String("cafile").pipe(
    Flag.withDescription("TLS: PEM file of the CA certificate(s) to trust (enables TLS)"),
    Flag.optional
  ),
  cert: Flag.String("cert").pipe(Flag.withDescription("TLS: PEM client certificate file (enables TLS)"), Flag.optional),
  key: Flag.String("key").pipe(Flag.withDescription("TLS: PEM client private key file (enables TLS)"), Flag.optional),
  keyPassphrase: Flag.Redacted("key-passphrase").pipe(
    Flag.withDescription(
      "TLS: the passphrase of an encrypted --key (mosquitto_pub prompts for it); default: the MQTT_KEY_PASSPHRASE " +
        "environment variable; never printed"
    ),
    Flag.optional
  ),
  servername: Flag.String("servername").pipe(
    Flag.withDescription("TLS: server name for SNI and certificate checks (default: the host)"),
    Flag.optional
  ),
  insecure: Flag.Boolean("insecure").pipe(
    Flag.withDescription("TLS: do not verify the server certificate (enables TLS)"),
    Flag.withDefault(false)
  ),
  tlsAlpn: Flag.String("tls-alpn").pipe(
    Flag.withDescription("TLS: an ALPN protocol to offer, e.g. x-amzn-mqtt-ca for AWS IoT Core on port 443 (repeatable; enables TLS)"),
    Flag.atLeast(0)
  ),
  ciphers: Flag.String("ciphers").pipe(
    Flag.withDescription("TLS: the cipher suites to accept, an OpenSSL cipher list (enables TLS)"),
    Flag.optional
  ),
  // A string, checked in `clientOptions`: any case is accepted (Node spells it TLSv1.3), another value is a
  // one-line usage error instead of the whole help page.
  tlsVersion: Flag.String("tls-version").pipe(
    Flag.withDescription("TLS: the lowest TLS version to accept: tlsv1.3, tlsv1.2 or tlsv1.1 (any case; default: Node's, TLS 1.2) (enables TLS)"),
    Flag.optional
  ),
  proxy: Flag.Redacted("proxy").pipe(
    Flag.withDescription(
      "Connect through a proxy: http://[user:password@]host:port (HTTP CONNECT) or socks5h://[user:password@]host:port " +
        "(also socks5://, socks4://, socks4a://; mosquitto's --proxy); never printed"
    ),
    Flag.optional
  ),
  wsHeader: Flag.String("ws-header").pipe(
    Flag.withDescription("WebSocket: a handshake header NAME:VALUE, e.g. \"Authorization: Bearer TOKEN\" (repeatable; ws:// and wss:// only; values never printed)"),
    Flag.atLeast(0)
  )
} as const

/** An on/off switch (`--name`, `-alias`), off unless given. @since 0.1.0 @category connection */
export const switchFlag = (name: string, alias: string, description: string) =>
  Flag.Boolean(name).pipe(Flag.withAlias(alias), Flag.withDescription(description), Flag.withDefault(false))

/** The parsed {@link connectionFlags}. @since 0.1.0 @category connection */
export type ConnectionFlags = Command.Command.Config.Infer<typeof connectionFlags>

/** What {@link clientOptions} resolves: the client options and the broker address to show in messages. @since 0.1.0 @category connection */
export interface ResolvedConnection {
  readonly options: ClientOptions
  /** `scheme://host:port`, without credentials (safe to print). */
  readonly address: string
}

/** `--tls-version`'s values (lower case) as the client names them. */
const tlsVersions: Readonly<Record<string, TlsVersion>> = { "tlsv1.3": "TLSv1.3", "tlsv1.2": "TLSv1.2", "tlsv1.1": "TLSv1.1" }

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
 * @category connection
 */
export const clientOptions = (
  flags: ConnectionFlags
): Effect.Effect<ResolvedConnection, CliFailure, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const wantsTls = Option.isSome(flags.cafile) || Option.isSome(flags.cert) || Option.isSome(flags.key) || Option.isSome(flags.keyPassphrase) ||
      Option.isSome(flags.servername) || flags.insecure || flags.tlsAlpn.length > 0 || Option.isSome(flags.ciphers) ||
      Option.isSome(flags.tlsVersion)
    let url: string
    if (Option.isSome(flags.unix)) {
      if (Option.isSome(flags.url) || Option.isSome(flags.host) || Option.isSome(flags.port)) {
        return yield* usage("--unix cannot be combined with --url, --host or --port")
      }
      const path = flags.unix.value
      if (path === "") return yield* usage("--unix needs the path of a socket file")
      // A relative path is the working directory's, as for mosquitto_pub; the URL takes it percent-encoded.
      const absolute = path.startsWith("/") ? path : `${process.cwd()}/${path}`
      url = `mqtt+unix://${absolute.split("/").map(encodeURIComponent).join("/")}`
    } else if (Option.isSome(flags.url)) {
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
    // The client's own URL grammar (one parser): schemes, a missing scheme, a query, percent-encoded user
    // info; its messages never show the password.
    const endpoint = yield* parseUrl(url).pipe(Effect.mapError((error) => usage(error.message)))
    // The transport the client's scheme registry picked says whether it takes TLS settings.
    const secure = endpoint.transport?.secure === true
    if (wantsTls && !secure) return yield* usage(`TLS flags need a TLS URL (mqtts:// or wss://), got ${endpoint.protocol}://`)
    const headers = yield* wsHeaders(flags.wsHeader)
    if (headers !== undefined && endpoint.transport?.address !== "http") {
      return yield* usage(`--ws-header needs a WebSocket URL (ws:// or wss://), got ${endpoint.protocol}://`)
    }
    const address = Transport.describeEndpoint(endpoint)
    if (flags.keepAlive < 0 || flags.keepAlive > 65535) {
      return yield* usage(`invalid keep-alive ${flags.keepAlive}: expected 0..65535 seconds`)
    }
    if (!(flags.connectTimeout > 0)) return yield* usage(`invalid connect timeout ${flags.connectTimeout}: expected > 0 seconds`)

    const fromUrl = Option.fromUndefinedOr(endpoint.username)
    const username = Option.orElse(flags.username, () => fromUrl)
    // The strings of CONNECT pass the codec's check [MQTT-1.5.3] here, so a bad one is a usage error
    // (exit 2) rather than a connection error; the reason names the flag, not the value.
    const stringFields: ReadonlyArray<readonly [string, Option.Option<string>]> = [
      ["--id", flags.clientId],
      [Option.isSome(flags.username) ? "--username" : "the URL's user name", username]
    ]
    for (const [field, value] of stringFields) {
      const reason = Option.isSome(value) ? mqttStringError(value.value, field) : undefined
      if (reason !== undefined) return yield* usage(reason)
    }
    const will = yield* willOptions(flags)
    if (flags.disableCleanSession && Option.isNone(flags.clientId)) {
      // as mosquitto: a generated id would start a new session on every run
      return yield* usage("--disable-clean-session (-c) needs a client id (--id/-i)")
    }
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
      const minVersion = Option.isSome(flags.tlsVersion) ? tlsVersions[flags.tlsVersion.value.toLowerCase()] : undefined
      if (Option.isSome(flags.tlsVersion) && minVersion === undefined) {
        return yield* usage(`--tls-version must be tlsv1.3, tlsv1.2 or tlsv1.1, got ${JSON.stringify(flags.tlsVersion.value)}`)
      }
      let passphrase = flags.keyPassphrase
      if (Option.isNone(passphrase) && Option.isSome(flags.key)) {
        passphrase = yield* Config.option(Config.Redacted("MQTT_KEY_PASSPHRASE")).pipe(
          Effect.mapError((error) => usage(`invalid MQTT_KEY_PASSPHRASE: ${error.message}`))
        )
      }
      tls = {
        ...(Option.isSome(flags.cafile) ? { ca: yield* readText(flags.cafile.value, "CA file") } : {}),
        ...(Option.isSome(flags.cert) ? { cert: yield* readText(flags.cert.value, "certificate file") } : {}),
        ...(Option.isSome(flags.key) ? { key: Redacted.make(yield* readText(flags.key.value, "key file")) } : {}),
        ...some("servername", flags.servername),
        ...(flags.insecure ? { rejectUnauthorized: false } : {}),
        ...(flags.tlsAlpn.length > 0 ? { alpnProtocols: flags.tlsAlpn } : {}),
        ...some("ciphers", flags.ciphers),
        ...some("passphrase", passphrase),
        ...(minVersion !== undefined ? { minVersion } : {})
      }
    }

    const options: ClientOptions = {
      url,
      ...some("username", flags.username),
      ...some("password", password),
      ...some("clientId", flags.clientId),
      keepAlive: flags.keepAlive,
      ...(flags.protocolVersion === 5 ? { protocolVersion: 5 } : {}),
      connectTimeout: Duration.seconds(flags.connectTimeout),
      connectRetry: flags.retry,
      cleanSession: !flags.disableCleanSession,
      ...(will !== undefined ? { will } : {}),
      ...(tls !== undefined ? { tls } : {}),
      ...some("proxy", flags.proxy),
      ...(headers !== undefined ? { websocket: { headers } } : {})
    }
    return { options, address }
  })

/**
 * The `--ws-header NAME:VALUE` flags as headers (values `Redacted`, so `-d` and errors never show them);
 * `undefined` without any. One without a name is a usage error that does not echo it (it may hold a token).
 */
const wsHeaders = (flags: ReadonlyArray<string>): Effect.Effect<Record<string, Redacted.Redacted<string>> | undefined, CliFailure> => {
  if (flags.length === 0) return Effect.succeed(undefined)
  const headers: Record<string, Redacted.Redacted<string>> = {}
  for (const header of flags) {
    const colon = header.indexOf(":")
    const name = colon < 0 ? "" : header.slice(0, colon).trim()
    if (name === "") return Effect.fail(usage("--ws-header takes NAME:VALUE, e.g. \"Authorization: Bearer TOKEN\""))
    headers[name] = Redacted.make(header.slice(colon + 1).trim())
  }
  return Effect.succeed(headers)
}

const MAX_WILL_PAYLOAD = 65535 // a two-byte length prefix [MQTT-3.1.3.3]
const utf8 = new TextEncoder()

/** The last will of the `--will-*` flags; the others without `--will-topic` are a usage error naming the flag. */
const willOptions = (flags: ConnectionFlags): Effect.Effect<WillOptions | undefined, CliFailure> => {
  if (Option.isNone(flags.willTopic)) {
    const orphan = Option.isSome(flags.willPayload)
      ? "--will-payload"
      : Option.isSome(flags.willQos)
      ? "--will-qos"
      : flags.willRetain
      ? "--will-retain"
      : undefined
    return orphan === undefined ? Effect.succeed(undefined) : Effect.fail(usage(`${orphan} needs --will-topic`))
  }
  const topic = flags.willTopic.value
  const reason = outgoingTopicNameError(topic)
  if (reason !== undefined) return Effect.fail(usage(`invalid --will-topic ${JSON.stringify(topic)}: ${reason}`))
  const payload = utf8.encode(Option.getOrElse(flags.willPayload, () => ""))
  if (payload.length > MAX_WILL_PAYLOAD) {
    return Effect.fail(usage(`--will-payload is ${payload.length} bytes in UTF-8, at most ${MAX_WILL_PAYLOAD} fit [MQTT-3.1.3.3]`))
  }
  return Effect.succeed({ topic, payload, qos: Option.getOrElse(flags.willQos, () => 0 as const), retain: flags.willRetain })
}

/** Fails with a usage {@link CliFailure} (exit 2) when a topic name or filter is invalid, before connecting. @since 0.1.0 @category connection */
export const checkTopics = (topics: ReadonlyArray<string>, check: (topic: string) => string | undefined): Effect.Effect<void, CliFailure> => {
  for (const topic of topics) {
    const reason = check(topic)
    if (reason !== undefined) return Effect.fail(usage(`invalid topic ${JSON.stringify(topic)}: ${reason}`))
  }
  return Effect.void
}

/**
 * Runs `use` with a connected client; the client disconnects (DISCONNECT) when `use` ends or is interrupted.
 * With `--debug`, every packet is printed on stderr; `observe` also sees every packet (e.g. for `sub -F %m`).
 *
 * @since 0.1.0
 * @category connection
 */
export const withClient = <R>(
  flags: ConnectionFlags,
  use: (client: MqttClient["Service"]) => Effect.Effect<void, MqttError | PlatformError.PlatformError | CliFailure, R>,
  observe?: PacketObserver
): Effect.Effect<void, CliFailure, R | FileSystem.FileSystem | Stdio.Stdio> =>
  Effect.gen(function*() {
    const { options, address } = yield* clientOptions(flags)
    const onPacket = combineObservers([flags.debug ? debugObserver(yield* Stdio.Stdio) : undefined, observe])
    yield* Effect.gen(function*() {
      return yield* use(yield* MqttClient)
    }).pipe(
      Effect.provide(MqttClient.layer(onPacket === undefined ? options : { ...options, onPacket })),
      Effect.mapError((error) => toFailure(error, address))
    )
  })

