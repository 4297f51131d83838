/**
 * Client options, their defaults, and the broker URL.
 *
 * @since 0.1.0
 */
import {
  type Connect,
  outgoingStringError,
  outgoingTopicNameError,
  type Packet,
  packetError,
  type PropertiesOf,
  type ProtocolVersion,
  type QoS
} from "@aimeqtt/codec"
import { Duration, Effect, type LogLevel, Option, Redacted, Result, Schedule } from "effect"
import { display, publishPropertiesError } from "./Arguments.ts"
import { ConnectError, type ConnectionFailure, InvalidOptions } from "./errors.ts"
import type { Transport } from "./transports/Definition.ts"
import { type ProxyEndpoint, type ProxyOption, parseProxy } from "./transports/ProxyUrl.ts"
import { endpointOf, find, schemeList, Transports } from "./transports/Registry.ts"
import { type WebSocketOptions, websocketOptionsError } from "./transports/WebSocketHandshake.ts"

/**
 * The last will: published by the broker when the connection drops without DISCONNECT [MQTT-3.1.2-8].
 *
 * @since 0.1.0
 * @category options
 */
export interface WillOptions {
  readonly topic: string
  readonly payload: string | Uint8Array
  readonly qos?: QoS
  readonly retain?: boolean
  /**
   * MQTT 5.0 only (`protocolVersion: 5`): the will's properties [MQTT-3.1.3.2], e.g.
   * `willDelayInterval` (seconds the broker waits before publishing it; a reconnect within it cancels
   * the will), `messageExpiryInterval` (seconds), `contentType`, `responseTopic`, `correlationData`,
   * `payloadFormatIndicator`, `userProperties` (`[name, value]` pairs).
   */
  readonly properties?: PropertiesOf["Will"]
}

/**
 * TLS settings for `mqtts://` and `wss://` brokers (and every other `secure` transport; Node: a browser uses
 * its own trust store and certificate selection, so these options fail the connection there). Secrets
 * (`key`, `passphrase`, `pfx`) are `Redacted`: unwrapped only where they are handed to Node's TLS, never
 * in logs or errors.
 *
 * @since 0.1.0
 * @category options
 */
export interface TlsOptions {
  /** Trusted CA certificates (PEM text or bytes) replacing the system store, e.g. a private CA. */
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>
  /** Client certificate chain (PEM) for mutual TLS. */
  readonly cert?: string | Uint8Array | ReadonlyArray<string | Uint8Array>
  /** Private key of `cert` (PEM), kept `Redacted` so it never shows up in logs or errors. Encrypted: give `passphrase`. */
  readonly key?: Redacted.Redacted<string | Uint8Array>
  /**
   * The passphrase of an encrypted `key` (PEM `ENCRYPTED PRIVATE KEY`) or of `pfx`. A wrong one fails the
   * connection with a `TlsError` (not retried), whose message never shows it.
   */
  readonly passphrase?: Redacted.Redacted<string>
  /**
   * A PKCS#12 bundle (`.p12`/`.pfx` bytes) holding the client certificate, its private key and optionally CA
   * certificates, instead of `cert` and `key`; encrypted with `passphrase`. `Redacted`: it holds the private key.
   */
  readonly pfx?: Redacted.Redacted<Uint8Array>
  /** Host name sent in SNI and checked against the certificate. Default: the URL's host (when it is a name). */
  readonly servername?: string
  /**
   * Verify the broker's certificate chain and host name. Default true. `false` accepts any
   * certificate (an attacker in the middle included) and logs a warning once per client.
   */
  readonly rejectUnauthorized?: boolean
  /**
   * ALPN protocol names offered in the handshake (RFC 7301), each 1..255 bytes, e.g. `["x-amzn-mqtt-ca"]`:
   * AWS IoT Core takes MQTT with a client certificate on port 443 only with it. A broker that accepts none
   * of them fails the handshake with a `TlsError`. Default: none offered.
   */
  readonly alpnProtocols?: ReadonlyArray<string>
  /**
   * The cipher suites the client accepts, as an OpenSSL cipher list (TLS 1.2 names such as
   * `ECDHE-ECDSA-AES128-GCM-SHA256`, TLS 1.3 ones such as `TLS_AES_256_GCM_SHA384`, separated by `:`).
   * Default: Node's. A list that matches nothing fails with a `TlsError`.
   */
  readonly ciphers?: string
  /** The lowest TLS version accepted. Default: Node's (`TLSv1.2`). A broker that offers only lower ones fails with a `TlsError`. */
  readonly minVersion?: TlsVersion
  /**
   * The highest TLS version offered. Default: Node's (`TLSv1.3`). `"TLSv1.2"` makes the TLS 1.2 names of
   * `ciphers` decide the suite (TLS 1.3 suites are chosen apart from them). A broker that accepts only higher
   * ones fails with a `TlsError`; below `minVersion` fails with `InvalidOptions`.
   */
  readonly maxVersion?: TlsVersion
}

/**
 * A TLS protocol version, as Node names it.
 *
 * @since 0.4.0
 * @category options
 */
export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3"

/**
 * MQTT 5.0 enhanced authentication [MQTT-4.12]: the steps are Effects, run at every connection (and on
 * `reauthenticate`).
 * - `method`: the Authentication Method, e.g. `"SCRAM-SHA-256"`, sent in CONNECT (and every AUTH).
 * - `start`: the first Authentication Data (the client-first message), if the method has one.
 * - `continue`: answers each challenge of the broker (AUTH 0x18 Continue authentication): gets its
 *   Authentication Data, returns the next one.
 * - `finish`: checks the broker's final Authentication Data (CONNACK, or AUTH 0x00 after a
 *   re-authentication), e.g. SCRAM's server signature; a failure ends the attempt.
 *
 * A step that fails ends the attempt with `AuthenticationFailed` (the `cause` of the layer's `ConnectError`,
 * not retried). The data are bytes; none of it is logged, and `onPacket` sees it like any property.
 *
 * @since 0.3.0
 * @category options
 */
export interface AuthenticationOptions {
  readonly method: string
  readonly start?: Effect.Effect<Uint8Array | undefined, unknown>
  readonly continue: (challenge: Uint8Array | undefined) => Effect.Effect<Uint8Array | undefined, unknown>
  readonly finish?: (data: Uint8Array | undefined) => Effect.Effect<void, unknown>
}

/**
 * Options of {@link MqttClient.layer}.
 *
 * @since 0.1.0
 * @category options
 */
export interface ClientOptions {
  /**
   * Broker URL; the scheme picks the transport: `mqtt://` or `tcp://` (TCP, port 1883), `mqtts://`,
   * `ssl://` or `tls://` (TLS, port 8883), `ws://` (WebSocket, port 80), `wss://` (WebSocket over TLS,
   * port 443), `mqtt+unix:///path/to/socket` (a Unix domain socket), or the scheme of a transport
   * registered with `Transport.layer`. Default `mqtt://localhost:1883`.
   */
  readonly url?: string
  /**
   * Several brokers: the client connects to the first and, whenever a connection attempt fails or a
   * connection is lost, moves on to the next one (round-robin, paced by `reconnect`). Overrides `url`.
   */
  readonly urls?: ReadonlyArray<string>
  /** TLS settings for `mqtts://` and `wss://` URLs (the `secure` transports). */
  readonly tls?: TlsOptions
  /** WebSocket path for `ws://`/`wss://` URLs that have none (`ws://host:port`). Default `/mqtt`. */
  readonly wsPath?: string
  /**
   * For `ws://`/`wss://` URLs: headers of the opening handshake (Node only), and an Effect run before every
   * connection attempt that may give a new URL or headers (credentials that expire: presigned URLs, SAS tokens).
   * See {@link WebSocketOptions}.
   */
  readonly websocket?: WebSocketOptions
  /**
   * Reach the broker through a proxy (Node only): `http://[user:password@]host:port` (HTTP CONNECT) or
   * `socks5://`, `socks5h://` (the proxy resolves the broker's name), `socks4://`, `socks4a://`; also a
   * `Redacted` URL, or `{ url, username, password: Redacted }`. Every transport with a host and port goes
   * through it (`mqtt://`, `mqtts://` and `wss://` with TLS end to end inside the tunnel, `ws://`). A proxy
   * that refuses fails the attempt with a `ConnectError` whose cause is a `ProxyError` (a wrong password is
   * not retried); the password never shows up in errors or logs. SOCKS needs the optional `socks` package.
   */
  readonly proxy?: ProxyOption
  /**
   * The MQTT version to speak: 4 (MQTT 3.1.1, the default: every broker speaks it, the embedded aedes
   * broker only it) or 5 (MQTT 5.0 [MQTT-3.1.2.2]: reason codes as typed errors, properties, negotiated
   * limits; see the README's MQTT 5 section). The options marked "MQTT 5.0 only" fail with
   * `InvalidOptions` under 4.
   */
  readonly protocolVersion?: ProtocolVersion
  /**
   * MQTT 5.0 only: seconds the broker keeps the session after the connection closes [MQTT-3.1.2.11.2];
   * 0xFFFFFFFF never expires it. Default: 0 with `cleanSession: true`, 0xFFFFFFFF with `cleanSession: false`
   * (what `cleanSession: false` means in MQTT 3.1.1). `cleanSession` is sent as Clean Start: true starts
   * a new session, false resumes the stored one [MQTT-3.1.2-4].
   */
  readonly sessionExpiryInterval?: number
  /**
   * MQTT 5.0 only: the Session Expiry Interval (seconds) the client's DISCONNECT sets when the client is
   * closed (section 3.14.2.2.2), e.g. 0 to end a session that would otherwise outlive the connection. It may
   * not turn a session that ends with the connection (interval 0 in CONNECT) into one that does not
   * (section 3.14.2.2.2). Default: unchanged.
   */
  readonly sessionExpiryOnClose?: number
  /**
   * MQTT 5.0 only: how many QoS 1/2 messages the broker may send this client before it acknowledges them
   * (CONNECT's Receive Maximum [MQTT-3.1.2.11.3]). Default: `subscriberBufferSize` (at most 65535): the
   * broker never has more unacknowledged messages out than one stream buffers.
   */
  readonly receiveMaximum?: number
  /**
   * MQTT 5.0 only: how many topic aliases the broker may use towards this client (CONNECT's Topic Alias
   * Maximum [MQTT-3.1.2.11.5]). Incoming aliases are resolved per connection, so messages always carry
   * their topic. Default 0: the broker sends full topics.
   */
  readonly topicAliasMaximum?: number
  /**
   * MQTT 5.0 only: `"auto"` gives the topics this client publishes to Topic Aliases, up to the broker's
   * Topic Alias Maximum, so a repeated topic travels as a 2-byte alias [MQTT-3.3.2.3.4] (least recently used
   * topics give theirs up; every connection starts afresh). Default `"off"`.
   */
  readonly topicAliases?: "auto" | "off"
  /**
   * MQTT 5.0 only: when the broker refuses the connection or disconnects with 0x9C Use another server or
   * 0x9D Server moved and names a Server Reference [MQTT-4.11], connect there next (`host`, `host:port` or a
   * URL; the first of a space-separated list), with the same transport and options. Default false: the
   * client stops, and the error carries `serverReference`.
   */
  readonly followServerReference?: boolean
  /**
   * MQTT 5.0 only: enhanced authentication [MQTT-4.12], a challenge/response over AUTH packets (SCRAM,
   * Kerberos, ...). See {@link AuthenticationOptions}. `MqttClient.reauthenticate` runs it again on the
   * open connection.
   */
  readonly authentication?: AuthenticationOptions
  /** Client identifier. Generated (`aimeqtt_` + random) when absent; `""` is sent as is [MQTT-3.1.3-6]. */
  readonly clientId?: string
  readonly username?: string
  /** A password, or an Effect evaluated on every (re)connect (for expiring tokens). */
  readonly password?: Redacted.Redacted<string> | Effect.Effect<Redacted.Redacted<string>, unknown>
  /** Keep-alive in seconds, as in the protocol; 0 disables it. Default 60. */
  readonly keepAlive?: number
  /** How long to wait for PINGRESP before declaring the connection dead. Default: half the keep-alive. */
  readonly pingTimeout?: Duration.Input
  /** Default true. With false the broker keeps subscriptions and queued messages while we are away. */
  readonly cleanSession?: boolean
  readonly will?: WillOptions
  /** Bounds the whole first connection, retries included (and each later reconnect attempt). Default 30 s. */
  readonly connectTimeout?: Duration.Input
  /**
   * When to retry after a failed or lost connection. Default: exponential from 1 s with jitter, capped at 30 s.
   * Its input is the {@link ConnectionFailure} that calls for the retry, so a schedule can decide by it (e.g.
   * stop on an MQTT 5.0 `DisconnectedByServer` with a given `reasonCode`).
   */
  readonly reconnect?: Schedule.Schedule<unknown, ConnectionFailure>
  /**
   * Whether the first connection is retried (paced by `reconnect`, bounded by `connectTimeout`). Default true.
   * With false, the layer fails at once with the first attempt's error when every broker in `urls` was tried
   * once (a refused or unreachable broker, as `mosquitto_sub` does); reconnects after a lost connection are
   * unaffected.
   */
  readonly connectRetry?: boolean
  /**
   * The level of the client's own log line on each lost connection ("MQTT connection lost: ..."). Default
   * `"Warn"`; `"None"` turns it off (`status` reports the same as `Disconnected { cause }`).
   */
  readonly connectionLossLogLevel?: LogLevel.LogLevel
  /**
   * QoS 1/2 publishes in flight at once; later ones wait. Default 20.
   *
   * Keep it at or below the broker's window for incoming flows. mosquitto's `max_inflight_messages`
   * defaults to 20: above it, a 3.1.1 client's QoS 2 messages are acknowledged (PUBREC, PUBCOMP) and
   * then discarded, so `publish` succeeds for messages no subscriber ever gets. Raise both together
   * (e.g. `max_inflight_messages 100` on the broker with `maxInflight: 100`). MQTT 5 negotiates this
   * window (CONNACK's Receive Maximum); MQTT 3.1.1 has no way to learn it.
   */
  readonly maxInflight?: number
  /** Publishes and subscribes that may wait while disconnected; beyond it they fail with `OfflineQueueFull`. Default 1000. */
  readonly offlineQueueSize?: number
  /** Messages each subscription stream buffers before delivery waits (backpressure). Default 1024. */
  readonly subscriberBufferSize?: number
  /** Messages kept for streams not opened yet (oldest dropped first, with a warning). Default 1000. */
  readonly unmatchedBufferSize?: number
  /**
   * Largest packet accepted from the broker, in bytes. Default 64 MiB. In MQTT 5.0 it is sent as
   * CONNECT's Maximum Packet Size [MQTT-3.1.2.11.4], so the broker does not send larger ones (it drops
   * them instead [MQTT-3.1.2-25]).
   */
  readonly maxPacketSize?: number
  /** Send UNSUBSCRIBE when the last stream on a filter ends. Default: the value of `cleanSession`. */
  readonly unsubscribeOnEnd?: boolean
  /**
   * Observes every control packet of every connection, for debugging and tracing (the CLI's `-d`):
   * `direction: "sent"` as a packet is handed to the socket (CONNECT, PUBLISH, PUBACK, PINGREQ, DISCONNECT, ...),
   * `"received"` as soon as it is decoded, before the client acts on it (CONNACK, PUBLISH, SUBACK, PINGRESP, ...).
   *
   * - The CONNECT it reports has its `password` removed (whether the password came from `password` or
   *   from the URL): a credential never reaches the hook, not even its length. Everything else is as
   *   sent (client id, user name, will).
   * - A PUBLISH's `payload` may be a view into the read buffer: copy it before keeping or changing it.
   * - It runs inline in the connection's reader and writer, in wire order: keep it quick, a slow hook
   *   slows the connection down. Its failures and defects (a throw) are ignored: they never end the
   *   connection.
   * - When absent, the hot path pays one `undefined` check per batch of packets.
   *
   * @example
   * MqttClient.layer({ onPacket: ({ direction, packet }) => Effect.logDebug(`${direction} ${packet._tag}`) })
   * @since 0.2.0
   */
  readonly onPacket?: (
    event: { readonly direction: "sent" | "received"; readonly packet: Packet<ProtocolVersion> }
  ) => Effect.Effect<unknown, unknown>
}

/** The CONNECT the client sends, without its password (added on each attempt). @since 0.3.0 @category options */
export type ConnectRequest = Omit<Connect<4>, "password"> | Omit<Connect<5>, "password">

/**
 * A transport, by the canonical scheme of its URLs: `"mqtt"` (TCP), `"mqtts"` (TLS), `"ws"`, `"wss"`,
 * `"mqtt+unix"` (a Unix domain socket), or the first scheme of a transport registered with `Transport.layer`.
 *
 * @since 0.1.0
 * @category options
 */
export type Protocol = "mqtt" | "mqtts" | "ws" | "wss" | "mqtt+unix" | (string & {})

/** Where to connect. @since 0.1.0 @category options */
export interface Endpoint {
  /** The transport: the canonical scheme of the URL's (`tcp://` is `"mqtt"`, `ssl://` and `tls://` are `"mqtts"`). */
  readonly protocol: Protocol
  /** Host name or IP address (IPv6 without brackets); `"localhost"` for a socket file. */
  readonly host: string
  /** The port; 0 for a socket file. */
  readonly port: number
  /**
   * The path: the WebSocket request path with its query (`ws`/`wss`, every `"http"` transport), e.g.
   * `/mqtt?token=abc`; the socket file (`mqtt+unix`, every `"file"` transport), e.g. `/run/mosquitto.sock`.
   */
  readonly path?: string
  /** TLS settings (`mqtts`/`wss`, every `secure` transport). */
  readonly tls?: TlsOptions
  /** The proxy to tunnel through (the `proxy` option; every transport with a host and port). */
  readonly proxy?: ProxyEndpoint
  /** WebSocket headers and the per-attempt handshake (the `websocket` option; `ws`/`wss`, every `"http"` transport). */
  readonly websocket?: WebSocketOptions
  /**
   * The transport that connects to it, the one the URL's scheme named when it was parsed (`parseUrl` sets
   * it). Without it, the transport registered for `protocol`.
   */
  readonly transport?: Transport
}

/** Options with every default applied. @since 0.1.0 */
export interface ResolvedOptions {
  readonly protocolVersion: ProtocolVersion
  /** The transports the endpoints were parsed with (the `Transport.Transports` of the layer's context). */
  readonly transports: ReadonlyArray<Transport>
  /** Brokers in the order they are tried; never empty. */
  readonly endpoints: readonly [Endpoint, ...Array<Endpoint>]
  readonly connect: ConnectRequest
  /** The client id was generated (no `clientId` option): a clean session may take a fresh one (see Dialer). */
  readonly clientIdGenerated: boolean
  readonly password: Effect.Effect<Redacted.Redacted<string> | undefined, ConnectError>
  readonly keepAliveMillis: number
  readonly pingTimeoutMillis: number
  /** `pingTimeout` was given: a Server Keep Alive does not change it. */
  readonly pingTimeoutGiven: boolean
  readonly connectTimeout: Duration.Duration
  readonly reconnect: Schedule.Schedule<unknown, ConnectionFailure>
  readonly connectRetry: boolean
  readonly connectionLossLogLevel: LogLevel.LogLevel
  readonly maxInflight: number
  readonly offlineQueueSize: number
  readonly subscriberBufferSize: number
  readonly unmatchedBufferSize: number
  readonly maxPacketSize: number
  readonly unsubscribeOnEnd: boolean
  /** MQTT 5.0: enhanced authentication (see {@link ClientOptions.authentication}). */
  readonly authentication?: AuthenticationOptions
  /** MQTT 5.0: follow a Server Reference (see {@link ClientOptions.followServerReference}). */
  readonly followServerReference: boolean
  /** MQTT 5.0: the Session Expiry Interval of the closing DISCONNECT (see {@link ClientOptions.sessionExpiryOnClose}). */
  readonly sessionExpiryOnClose?: number
  /** MQTT 5.0: outgoing topic aliases (see {@link ClientOptions.topicAliases}). */
  readonly topicAliases: boolean
  /** See {@link ClientOptions.onPacket}. */
  readonly onPacket?: ClientOptions["onPacket"]
}

/** Exponential from 1 s with jitter, capped at 30 s. @since 0.1.0 @category options */
export const defaultReconnect: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("1 second", 2).pipe(Schedule.jittered),
  Schedule.spaced("30 seconds")
])

const utf8 = new TextEncoder()

/**
 * Parses a broker URL: `mqtt://host:port` (also `tcp://`), `mqtts://` (also `ssl://`, `tls://`),
 * `ws://host:port/path`, `wss://host:port/path`, `mqtt+unix:///path/to/socket`, and the schemes of the
 * transports registered with `Transport.layer` (it reads `Transport.Transports`; nothing else). A
 * WebSocket URL without a path gets `wsPath` (default `/mqtt`); its query string is kept. Any other URL
 * with a query fails (it would be ignored), and a URL without a scheme fails with a hint (`mqtt://`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseUrl = (
  url: string,
  wsPath = "/mqtt"
): Effect.Effect<Endpoint & { username?: string; password?: string }, InvalidOptions> =>
  Effect.flatMap(Transports, (transports) => parseUrlWith(transports, url, wsPath))

/** {@link parseUrl} with the given transports. @internal */
export const parseUrlWith = (
  transports: ReadonlyArray<Transport>,
  url: string,
  wsPath = "/mqtt"
): Effect.Effect<Endpoint & { username?: string; password?: string }, InvalidOptions> => {
  if (url.trim() === "") return Effect.fail(new InvalidOptions({ message: "the broker URL is empty (e.g. mqtt://localhost:1883)" }))
  // "127.0.0.1:1883", "localhost:1883" or "user:pw@host": the scheme is missing (they parse as schemes
  // "127.0.0.1:", "localhost:", "user:"). The hint and the message never show the user info.
  if (!url.includes("://")) {
    const suggestion = `mqtt://${withoutUserinfo(url).replace(/^\/+/, "")}`
    return Effect.fail(
      new InvalidOptions({
        message: `invalid broker URL ${JSON.stringify(withoutUserinfo(url))}: it has no scheme; did you mean ${JSON.stringify(suggestion)}?`
      })
    )
  }
  if (!URL.canParse(url)) {
    const port = /^[^/?#]*:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/.exec(url)?.[1]
    const detail = port !== undefined && Number(port) > 65535 ? `: port ${port} is out of range (0..65535)` : ""
    return Effect.fail(new InvalidOptions({ message: `invalid broker URL ${JSON.stringify(withoutUserinfo(url))}${detail}` }))
  }
  const parsed = new URL(url)
  const transport = find(transports, parsed.protocol.slice(0, -1).toLowerCase())
  if (transport === undefined) {
    return Effect.fail(
      new InvalidOptions({ message: `unsupported URL scheme ${JSON.stringify(parsed.protocol)} (use ${schemeList(transports)})` })
    )
  }
  const endpoint = endpointOf(parsed, transport, { path: wsPath })
  if (Result.isFailure(endpoint)) return Effect.fail(new InvalidOptions({ message: endpoint.failure }))
  return Effect.zipWith(
    percentDecoded(parsed.username, "user name"),
    percentDecoded(parsed.password, "password"),
    (username, password) => ({
      ...endpoint.success,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {})
    })
  )
}

/** `url` with any `user:password@` replaced, for error messages. */
const withoutUserinfo = (url: string): string =>
  url.includes("://") ? url.replace(/^([^:/?#]*:\/\/)[^/?#]*@/, "$1***@") : url.replace(/^[^/?#]*@/, "***@")

/**
 * The user name or password of a URL, percent-decoded (`undefined` when empty). A malformed escape
 * (e.g. `%E0%A4`, not UTF-8) fails with a `InvalidOptions` that does not show the value.
 */
const percentDecoded = (encoded: string, what: string): Effect.Effect<string | undefined, InvalidOptions> =>
  encoded === ""
    ? Effect.succeed(undefined)
    : Effect.try({
      try: () => decodeURIComponent(encoded),
      catch: () => new InvalidOptions({ message: `the broker URL's ${what} is not valid percent-encoded UTF-8` })
    })

/**
 * The default `maxInflight`: mosquitto's default `max_inflight_messages`, so a burst of QoS 2 publishes
 * is never above the reference broker's window (see {@link ClientOptions.maxInflight}).
 */
const DEFAULT_MAX_INFLIGHT = 20

/** A client id for a client given none: `aimeqtt_` and 8 hex digits. @internal */
export const randomClientId = (): string => `aimeqtt_${Math.random().toString(16).slice(2, 10)}`

/** Validates options and applies defaults; invalid options fail with `InvalidOptions`. @since 0.1.0 */
export const resolveOptions = (options: ClientOptions): Effect.Effect<ResolvedOptions, InvalidOptions> =>
  Effect.gen(function*() {
    const urls = options.urls !== undefined && options.urls.length > 0 ? options.urls : [options.url ?? "mqtt://localhost:1883"]
    const transports = yield* Transports
    const parsed = yield* Effect.forEach(urls, (url) => parseUrlWith(transports, url, options.wsPath))
    const { password: urlPassword, username: urlUsername } = parsed[0] as (typeof parsed)[number]
    const tls = options.tls
    if (tls !== undefined) {
      const issue = tlsOptionsError(tls)
      if (issue !== undefined) return yield* new InvalidOptions({ message: `invalid option: ${issue}` })
    }
    const proxy = options.proxy === undefined ? undefined : yield* parseProxy(options.proxy)
    const websocket = options.websocket
    const websocketIssue = websocket === undefined ? undefined : websocketOptionsError(websocket)
    if (websocketIssue !== undefined) return yield* new InvalidOptions({ message: `invalid option: ${websocketIssue}` })
    const endpoints = parsed.map(({ protocol, host, port, path, transport }): Endpoint => ({
      protocol,
      host,
      port,
      ...(path !== undefined ? { path } : {}),
      ...(tls !== undefined && transport?.secure === true ? { tls } : {}),
      ...(proxy !== undefined && transport !== undefined && transport.address !== "file" ? { proxy } : {}),
      ...(websocket !== undefined && transport?.address === "http" ? { websocket } : {}),
      ...(transport !== undefined ? { transport } : {})
    }))
    // Not silently ignored: an option no URL can use is a mistake.
    if (proxy !== undefined && !endpoints.some((e) => e.proxy !== undefined)) {
      return yield* new InvalidOptions({ message: "invalid option: proxy applies to URLs with a host and port, not to a socket file" })
    }
    if (websocket !== undefined && !endpoints.some((e) => e.websocket !== undefined)) {
      return yield* new InvalidOptions({ message: "invalid option: websocket applies to ws:// and wss:// URLs only" })
    }
    if (tls?.rejectUnauthorized === false && endpoints.some((e) => e.tls !== undefined)) {
      yield* Effect.logWarning(
        "TLS certificate verification is disabled (tls.rejectUnauthorized: false): the client accepts any broker " +
          "certificate, so anyone in the middle can read and change the traffic. Use tls.ca for a private CA instead."
      )
    }
    const keepAlive = options.keepAlive ?? 60
    if (!Number.isInteger(keepAlive) || keepAlive < 0 || keepAlive > 65535) {
      return yield* new InvalidOptions({ message: `keepAlive must be an integer number of seconds in 0..65535, got ${keepAlive}` })
    }
    // Every string of CONNECT passes the codec's one check [MQTT-1.5.3] here, before anything is sent:
    // the encoder would write U+FFFD for an unpaired surrogate. Reasons name the field, never its value.
    const clientId = options.clientId ?? randomClientId()
    // Also no control character or noncharacter: mosquitto closes the connection before CONNACK for them,
    // and the client would only learn "the broker closed the connection" after `connectTimeout`.
    const clientIdError = outgoingStringError(clientId, "clientId")
    if (clientIdError !== undefined) return yield* new InvalidOptions({ message: `invalid option: ${clientIdError}` })
    const will = options.will
    const willError = will === undefined ? undefined : outgoingTopicNameError(will.topic)
    if (willError !== undefined) return yield* new InvalidOptions({ message: `invalid will topic (will.topic): ${willError}` })
    const willPayload = will === undefined ? undefined : typeof will.payload === "string" ? utf8.encode(will.payload) : will.payload
    if (willPayload !== undefined && willPayload.length > 65535) {
      // Its length prefix is two bytes [MQTT-3.1.3.3]: a longer one would corrupt CONNECT.
      return yield* new InvalidOptions({ message: `invalid option: will.payload is ${willPayload.length} bytes, at most 65535 fit [MQTT-3.1.3.3]` })
    }
    const username = options.username ?? urlUsername
    const usernameField = options.username === undefined ? "the URL's user name" : "username"
    const usernameError = username === undefined
      ? undefined
      : outgoingStringError(username, usernameField)
    if (usernameError !== undefined) return yield* new InvalidOptions({ message: `invalid option: ${usernameError}` })
    const given: unknown = options.password
    if (given !== undefined && !Redacted.isRedacted(given) && !Effect.isEffect(given)) {
      // A plain string (JavaScript, `as any`) would only fail, as a defect, when CONNECT is written.
      return yield* new InvalidOptions({
        message: "password must be Redacted (Redacted.make(...)) or an Effect of one, so that it never shows up in logs or errors"
      })
    }
    const password = resolvePassword(options.password ?? (urlPassword === undefined ? undefined : Redacted.make(urlPassword)))
    if (options.password !== undefined && username === undefined) {
      // [MQTT-3.1.2-22]: a password needs a user name.
      return yield* new InvalidOptions({ message: "a password was given without a username [MQTT-3.1.2-22]" })
    }
    const cleanSession = options.cleanSession ?? true
    const keepAliveMillis = keepAlive * 1000
    const protocolVersion = options.protocolVersion ?? 4
    if (protocolVersion !== 4 && protocolVersion !== 5) {
      return yield* new InvalidOptions({ message: `protocolVersion must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got ${display(protocolVersion)}` })
    }
    const subscriberBufferSize = Math.max(1, options.subscriberBufferSize ?? 1024)
    const maxPacketSize = options.maxPacketSize ?? 64 * 1024 * 1024
    const v5Only: Array<string> = (["sessionExpiryInterval", "sessionExpiryOnClose", "receiveMaximum", "topicAliasMaximum"] as const).filter((key) =>
      options[key] !== undefined
    )
    if (options.topicAliases !== undefined && options.topicAliases !== "auto" && options.topicAliases !== "off") {
      // A JavaScript or config value (`true`, "on") would otherwise mean "off" without a word.
      return yield* new InvalidOptions({ message: `topicAliases must be "auto" or "off", got ${display(options.topicAliases)}` })
    }
    if (options.topicAliases === "auto") v5Only.push("topicAliases")
    if (options.authentication !== undefined) v5Only.push("authentication")
    if (options.followServerReference === true) v5Only.push("followServerReference")
    const willPropertiesIssue = will?.properties === undefined ? undefined : publishPropertiesError(will.properties, "will.properties", true)
    if (willPropertiesIssue !== undefined) return yield* willPropertiesIssue
    const methodIssue = options.authentication === undefined
      ? undefined
      : typeof options.authentication.method !== "string"
      ? "authentication.method must be a string"
      : outgoingStringError(options.authentication.method, "authentication.method")
    if (methodIssue !== undefined) return yield* new InvalidOptions({ message: `invalid option: ${methodIssue}` })
    if (will?.properties !== undefined) v5Only.push("will.properties")
    if (protocolVersion === 4 && v5Only.length > 0) {
      return yield* new InvalidOptions({ message: `${v5Only.join(", ")}: MQTT 5.0 only, set protocolVersion: 5` })
    }
    const willBase = will !== undefined && willPayload !== undefined
      ? { topic: will.topic, payload: willPayload, qos: will.qos ?? 0, retain: will.retain ?? false }
      : undefined
    const base = {
      _tag: "Connect" as const,
      clientId,
      cleanSession,
      keepAlive,
      ...(username !== undefined ? { username } : {})
    }
    let connect: ConnectRequest
    if (protocolVersion === 4) {
      connect = { ...base, protocolLevel: 4, ...(willBase !== undefined ? { will: willBase } : {}) }
    } else {
      const sessionExpiryInterval = options.sessionExpiryInterval ?? (cleanSession ? 0 : 0xffffffff)
      const receiveMaximum = options.receiveMaximum ?? Math.min(65535, subscriberBufferSize)
      const topicAliasMaximum = options.topicAliasMaximum ?? 0
      const range = (name: string, value: number, min: number, max: number, rule: string) =>
        Number.isInteger(value) && value >= min && value <= max
          ? undefined
          : `${name} must be an integer in ${min}..${max} ${rule}, got ${value}`
      const rangeError = range("sessionExpiryInterval", sessionExpiryInterval, 0, 0xffffffff, "(seconds) [MQTT-3.1.2.11.2]") ??
        range("receiveMaximum", receiveMaximum, 1, 65535, "[MQTT-3.1.2.11.3]") ??
        range("topicAliasMaximum", topicAliasMaximum, 0, 65535, "[MQTT-3.1.2.11.5]") ??
        range("maxPacketSize", maxPacketSize, 1, 0xffffffff, "(bytes) [MQTT-3.1.2.11.4]")
      const onClose = options.sessionExpiryOnClose
      const closeError = onClose === undefined
        ? undefined
        : range("sessionExpiryOnClose", onClose, 0, 0xffffffff, "(seconds) [MQTT-3.14.2.2.2]") ??
          (sessionExpiryInterval === 0 && onClose !== 0
            ? `sessionExpiryOnClose cannot extend a session whose sessionExpiryInterval is 0 (section 3.14.2.2.2)`
            : undefined)
      if (rangeError !== undefined || closeError !== undefined) {
        return yield* new InvalidOptions({ message: `invalid option: ${rangeError ?? closeError}` })
      }
      connect = {
        ...base,
        protocolLevel: 5,
        properties: {
          ...(sessionExpiryInterval !== 0 ? { sessionExpiryInterval } : {}),
          ...(receiveMaximum !== 65535 ? { receiveMaximum } : {}),
          ...(topicAliasMaximum !== 0 ? { topicAliasMaximum } : {}),
          // The broker sends Response Information (the base of `request`'s response topics) only when asked [MQTT-3.1.2-28].
          requestResponseInformation: true,
          maximumPacketSize: maxPacketSize
        },
        ...(willBase !== undefined ? { will: will?.properties === undefined ? willBase : { ...willBase, properties: will.properties } } : {})
      }
      // The will's properties pass the codec's rules (types, UTF-8, a Response Topic without wildcards).
      const issue = packetError<5>(connect as Connect<5>, 5)
      if (issue !== undefined) return yield* new InvalidOptions({ message: `invalid option: ${issue.replace(/^CONNECT /, "")}` })
    }
    return {
      protocolVersion,
      transports,
      endpoints: endpoints as [Endpoint, ...Array<Endpoint>],
      connect,
      password,
      clientIdGenerated: options.clientId === undefined,
      keepAliveMillis,
      pingTimeoutMillis: options.pingTimeout === undefined
        ? Math.max(1000, keepAliveMillis / 2)
        : Duration.toMillis(yield* duration("pingTimeout", options.pingTimeout)),
      pingTimeoutGiven: options.pingTimeout !== undefined,
      connectTimeout: yield* duration("connectTimeout", options.connectTimeout ?? "30 seconds"),
      reconnect: options.reconnect ?? defaultReconnect,
      connectRetry: options.connectRetry ?? true,
      connectionLossLogLevel: options.connectionLossLogLevel ?? "Warn",
      maxInflight: Math.max(1, options.maxInflight ?? DEFAULT_MAX_INFLIGHT),
      offlineQueueSize: Math.max(0, options.offlineQueueSize ?? 1000),
      subscriberBufferSize,
      unmatchedBufferSize: Math.max(0, options.unmatchedBufferSize ?? 1000),
      maxPacketSize,
      unsubscribeOnEnd: options.unsubscribeOnEnd ?? cleanSession,
      topicAliases: options.topicAliases === "auto",
      ...(protocolVersion === 5 && options.sessionExpiryOnClose !== undefined ? { sessionExpiryOnClose: options.sessionExpiryOnClose } : {}),
      followServerReference: options.followServerReference === true,
      ...(options.authentication !== undefined ? { authentication: options.authentication } : {}),
      ...(options.onPacket !== undefined ? { onPacket: options.onPacket } : {})
    }
  })

const tlsVersions: ReadonlyArray<TlsVersion> = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

/** Why `tls` is invalid, naming the field (never a secret's value); `undefined` when it is fine. */
const tlsOptionsError = (tls: TlsOptions): string | undefined => {
  for (const field of ["key", "passphrase", "pfx"] as const) {
    if (tls[field] !== undefined && !Redacted.isRedacted(tls[field])) {
      return `tls.${field} must be Redacted (Redacted.make(...)), so that it never shows up in logs or errors`
    }
  }
  if (tls.pfx !== undefined && !(Redacted.value(tls.pfx) instanceof Uint8Array)) {
    return "tls.pfx must be the bytes of a PKCS#12 file (a Uint8Array, e.g. fs.readFileSync(\"client.p12\"))"
  }
  if (tls.passphrase !== undefined && typeof Redacted.value(tls.passphrase) !== "string") return "tls.passphrase must be a string"
  if (tls.alpnProtocols !== undefined) {
    const protocols: unknown = tls.alpnProtocols
    const ok = Array.isArray(protocols) && protocols.length > 0 &&
      protocols.every((name) => typeof name === "string" && utf8.encode(name).length >= 1 && utf8.encode(name).length <= 255)
    if (!ok) {
      return 'tls.alpnProtocols must be a non-empty array of protocol names of 1..255 bytes (RFC 7301 §3.1), e.g. ["x-amzn-mqtt-ca"]'
    }
  }
  if (tls.ciphers !== undefined && (typeof tls.ciphers !== "string" || tls.ciphers.trim() === "")) {
    return 'tls.ciphers must be a non-empty OpenSSL cipher list, e.g. "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256"'
  }
  if (tls.minVersion !== undefined && !tlsVersions.includes(tls.minVersion)) {
    return `tls.minVersion must be one of ${tlsVersions.map((v) => JSON.stringify(v)).join(", ")}, got ${JSON.stringify(display(tls.minVersion))}`
  }
  if (tls.maxVersion !== undefined && !tlsVersions.includes(tls.maxVersion)) {
    return `tls.maxVersion must be one of ${tlsVersions.map((v) => JSON.stringify(v)).join(", ")}, got ${JSON.stringify(display(tls.maxVersion))}`
  }
  if (tls.minVersion !== undefined && tls.maxVersion !== undefined && tlsVersions.indexOf(tls.minVersion) > tlsVersions.indexOf(tls.maxVersion)) {
    return `tls.minVersion (${JSON.stringify(tls.minVersion)}) is above tls.maxVersion (${JSON.stringify(tls.maxVersion)})`
  }
  if (tls.servername !== undefined && typeof tls.servername !== "string") return "tls.servername must be a string"
  return undefined
}

const resolvePassword = (
  password: Redacted.Redacted<string> | Effect.Effect<Redacted.Redacted<string>, unknown> | undefined
): Effect.Effect<Redacted.Redacted<string> | undefined, ConnectError> => {
  if (password === undefined) return Effect.succeed(undefined)
  if (Effect.isEffect(password)) {
    return Effect.mapError(password, (cause) => new ConnectError({ message: "the password effect failed", cause })).pipe(
      Effect.flatMap((value: unknown) => {
        if (Redacted.isRedacted(value) && typeof Redacted.value(value) === "string") return Effect.succeed(value as Redacted.Redacted<string>)
        const message = "the password effect must succeed with a Redacted string (Redacted.make(...))"
        return Effect.fail(new ConnectError({ message, cause: new InvalidOptions({ message }) }))
      })
    )
  }
  return Effect.succeed(password)
}

const duration = (name: string, input: Duration.Input): Effect.Effect<Duration.Duration, InvalidOptions> =>
  Option.match(Duration.fromInput(input), {
    onNone: () => Effect.fail(new InvalidOptions({ message: `${name} is not a valid duration: ${display(input)}` })),
    onSome: Effect.succeed
  })
