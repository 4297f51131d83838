/**
 * The Node sockets of the built-in transports: TCP and Unix domain sockets (`node:net`), TLS
 * (`node:tls`) and WebSocket (the `ws` package, which takes TLS options and pauses reads for
 * backpressure). Selected through the package's `#transport` import by every condition except `browser`;
 * `Transport.browser.ts` has the same exports. With the `proxy` option, TCP, TLS and WebSocket go through
 * the tunnel of `transports/ProxyTunnel.ts` (TLS end to end inside it).
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Effect, Redacted } from "effect"
import { Socket } from "effect/socket"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { ConnectError } from "./errors.ts"
import type { Endpoint, TlsOptions } from "./Options.ts"
import { type OpenSocket, type OpenWebSocket, webSocketUrl } from "./transports/PlatformSockets.ts"
import { tunnelledConnection, tunnelledNet, tunnelledTls } from "./transports/ProxyTunnel.ts"
import { settingsError, type TlsSetting } from "./transports/TlsFailure.ts"
import { plainHeaders } from "./transports/WebSocketHandshake.ts"

/**
 * A TCP socket to `endpoint.host:endpoint.port` (through `endpoint.proxy` when set); nothing is dialled until
 * its reader is acquired.
 *
 * @since 0.4.0
 */
export const tcp: OpenSocket = (endpoint, timeout) =>
  endpoint.proxy !== undefined
    ? tunnelledNet(endpoint.proxy, endpoint)
    : NodeSocket.makeNet({ host: endpoint.host, port: endpoint.port, openTimeout: timeout, noDelay: true })

/**
 * A Unix domain socket to the file `endpoint.path`; nothing is dialled until its reader is acquired.
 *
 * @since 0.4.0
 */
export const unix: OpenSocket = (endpoint, timeout) =>
  NodeSocket.makeNet({ path: endpoint.path ?? "", openTimeout: timeout })

/**
 * A TLS socket to `endpoint.host:endpoint.port` with `endpoint.tls`. Settings Node's TLS rejects (a key
 * that does not decrypt with `passphrase`, a `ciphers` list that matches nothing) fail here, as a
 * `SocketError` whose cause carries OpenSSL's code, before anything is dialled. Through `endpoint.proxy` when
 * set: TLS with the broker inside the tunnel.
 *
 * @since 0.4.0
 */
export const tls: OpenSocket = (endpoint, timeout) =>
  Effect.flatMap(tlsOptions(endpoint), (options) =>
    endpoint.proxy !== undefined
      ? tunnelledTls(endpoint.proxy, endpoint, options)
      : NodeSocket.makeTls({ host: endpoint.host, port: endpoint.port, openTimeout: timeout, ...options }))

/**
 * A WebSocket to `ws://` or (`secure`) `wss://` `host:port` + `endpoint.path`, offering the subprotocol
 * `mqtt` [MQTT-6.0.0-3], with `headers` in the opening handshake; `wss://` with `endpoint.tls`. Through
 * `endpoint.proxy` when set: the tunnel opens when the reader is acquired, and `ws` speaks its handshake
 * (and, for `wss://`, TLS) on it.
 *
 * @since 0.4.0
 */
export const webSocket: OpenWebSocket = (endpoint, secure, timeout, headers) => {
  const url = webSocketUrl(endpoint, secure)
  return Effect.gen(function*() {
    const tls = secure ? yield* tlsOptions(endpoint) : undefined
    // Loaded on first use: TCP-only programs do not pay for the `ws` package (~4 MB of RSS).
    const { WebSocket } = yield* loadWebSocket
    const options = {
      ...tls,
      ...(headers !== undefined ? { headers: plainHeaders(headers) } : {}),
      // The broker must answer with the `mqtt` subprotocol [MQTT-6.0.0-4]; `ws` checks that.
      perMessageDeflate: false
    }
    const proxy = endpoint.proxy
    if (proxy === undefined) {
      return yield* Socket.makeWebSocket(url, { openTimeout: timeout, protocols: "mqtt" }).pipe(
        Effect.provideService(Socket.WebSocketConstructor, (url, protocols) =>
          new WebSocket(url, typeof protocols === "object" && !Array.isArray(protocols) ? protocols.protocols : protocols, options))
      )
    }
    return yield* Socket.fromWebSocket(
      Effect.acquireRelease(
        Effect.map(tunnelledConnection(proxy, endpoint, tls), (createConnection) =>
          new WebSocket(url, "mqtt", { ...options, createConnection })),
        (ws) => Effect.sync(() => ws.close(1000))
      ),
      { openTimeout: timeout }
    )
  })
}

const loadWebSocket = Effect.tryPromise({
  try: () => import("@effect/platform-node/NodeWS"),
  catch: (cause) => new ConnectError({ message: "could not load the WebSocket transport (@effect/platform-node/NodeWS)", cause })
})

type Pem = string | Uint8Array | ReadonlyArray<string | Uint8Array>

const pem = (value: Pem): string | Buffer | Array<string | Buffer> =>
  typeof value === "string"
    ? value
    : value instanceof Uint8Array
    ? Buffer.from(value)
    : value.map((v) => (typeof v === "string" ? v : Buffer.from(v)))

/**
 * `node:tls` connection options from {@link TlsOptions}, with the secure context built here: secrets (`key`,
 * `passphrase`, `pfx`) are unwrapped here and nowhere else, and a context Node refuses is a `SocketError`
 * (OpenSSL's message and code, never the secret) instead of a throw inside the connect.
 */
const tlsOptions = (endpoint: Endpoint): Effect.Effect<Tls.ConnectionOptions, Socket.SocketError> => {
  const tls: TlsOptions = endpoint.tls ?? {}
  // SNI takes host names only (RFC 6066 §3); for an IP the certificate is checked against the IP.
  const servername = tls.servername ?? (Net.isIP(endpoint.host) === 0 ? endpoint.host : undefined)
  return Effect.try({
    try: () => {
      const secureContext = Tls.createSecureContext(contextOptions(tls))
      return {
        secureContext,
        ...(servername !== undefined ? { servername } : {}),
        ...(tls.alpnProtocols !== undefined ? { ALPNProtocols: [...tls.alpnProtocols] } : {}),
        rejectUnauthorized: tls.rejectUnauthorized ?? true
      }
    },
    catch: (cause) =>
      new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause: settingsError(refusedField(tls), cause, endpoint) }) })
  })
}

/** `tls.createSecureContext` options of `tls`, secrets unwrapped. */
const contextOptions = (tls: TlsOptions): Tls.SecureContextOptions => {
  const key = tls.key === undefined ? undefined : Redacted.value(tls.key)
  const pfx = tls.pfx === undefined ? undefined : Redacted.value(tls.pfx)
  return {
    ...(tls.ca !== undefined ? { ca: pem(tls.ca) } : {}),
    ...(tls.cert !== undefined ? { cert: pem(tls.cert) } : {}),
    ...(key !== undefined ? { key: typeof key === "string" ? key : Buffer.from(key) } : {}),
    ...(pfx !== undefined ? { pfx: Buffer.from(pfx) } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: Redacted.value(tls.passphrase) } : {}),
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    ...(tls.minVersion !== undefined ? { minVersion: tls.minVersion } : {}),
    ...(tls.maxVersion !== undefined ? { maxVersion: tls.maxVersion } : {})
  }
}

/**
 * Which setting Node refused, once the whole context was: each is tried on its own (a key or PKCS#12 file with
 * the passphrase); `undefined` when each alone is fine (e.g. a key that does not belong to the certificate).
 */
const refusedField = (tls: TlsOptions): TlsSetting | undefined => {
  const fields: ReadonlyArray<readonly [TlsSetting, TlsOptions]> = [
    ["pfx", { ...(tls.pfx !== undefined ? { pfx: tls.pfx } : {}), ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}) }],
    ["key", { ...(tls.key !== undefined ? { key: tls.key } : {}), ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}) }],
    ["cert", tls.cert !== undefined ? { cert: tls.cert } : {}],
    ["ciphers", tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}]
  ]
  for (const [field, alone] of fields) {
    if (tls[field] === undefined) continue
    try {
      Tls.createSecureContext(contextOptions(alone))
    } catch {
      return field
    }
  }
  return undefined
}
