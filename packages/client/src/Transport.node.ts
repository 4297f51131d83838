/**
 * The Node part of {@link Transport}: TCP (`node:net`), TLS (`node:tls`) and WebSocket (the `ws`
 * package, which takes TLS options and pauses reads for backpressure). Selected through the package's
 * `#transport` import by every condition except `browser`.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { type Duration, Effect, Redacted } from "effect"
import { Socket } from "effect/socket"
import * as Net from "node:net"
import type * as Tls from "node:tls"
import { ConnectError } from "./errors.ts"
import type { Endpoint, TlsOptions } from "./Options.ts"

/**
 * A socket for the endpoint; nothing is dialled until its reader is acquired.
 *
 * @since 0.1.0
 */
export const makeSocket = (endpoint: Endpoint, timeout: Duration.Duration): Effect.Effect<Socket.Socket, ConnectError> => {
  switch (endpoint.protocol) {
    case "mqtt":
      return NodeSocket.makeNet({ host: endpoint.host, port: endpoint.port, openTimeout: timeout, noDelay: true })
    case "mqtts":
      return NodeSocket.makeTls({
        host: endpoint.host,
        port: endpoint.port,
        openTimeout: timeout,
        ...tlsOptions(endpoint)
      })
    case "ws":
    case "wss": {
      const tls = endpoint.protocol === "wss" ? tlsOptions(endpoint) : {}
      const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host
      const url = `${endpoint.protocol}://${host}:${endpoint.port}${endpoint.path ?? "/mqtt"}`
      // Loaded on first use: TCP-only programs do not pay for the `ws` package (~4 MB of RSS).
      return Effect.flatMap(loadWebSocket, ({ WebSocket }) =>
        Socket.makeWebSocket(url, { openTimeout: timeout, protocols: "mqtt" }).pipe(
          Effect.provideService(Socket.WebSocketConstructor, (url, options) =>
            new WebSocket(url, typeof options === "object" && !Array.isArray(options) ? options.protocols : options, {
              ...tls,
              // The broker must answer with the `mqtt` subprotocol [MQTT-6.0.0-4]; `ws` checks that.
              perMessageDeflate: false
            }))
        ))
    }
  }
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

/** `node:tls` options from {@link TlsOptions}; the key is unwrapped here and nowhere else. */
const tlsOptions = (endpoint: Endpoint): Tls.ConnectionOptions => {
  const tls: TlsOptions = endpoint.tls ?? {}
  const key = tls.key === undefined ? undefined : Redacted.value(tls.key)
  // SNI takes host names only (RFC 6066 §3); for an IP the certificate is checked against the IP.
  const servername = tls.servername ?? (Net.isIP(endpoint.host) === 0 ? endpoint.host : undefined)
  return {
    ...(tls.ca !== undefined ? { ca: pem(tls.ca) } : {}),
    ...(tls.cert !== undefined ? { cert: pem(tls.cert) } : {}),
    ...(key !== undefined ? { key: typeof key === "string" ? key : Buffer.from(key) } : {}),
    ...(servername !== undefined ? { servername } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true
  }
}
