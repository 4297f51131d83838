/**
 * What the `#transport` module gives the transports, on each platform (`Transport.node.ts`,
 * `Transport.browser.ts`): the shapes of its socket openers, which both must export alike, and the
 * WebSocket URL both dial. Internal: not exported from the package.
 */
import type { Duration, Effect } from "effect"
import type { Socket } from "effect/socket"
import type { ConnectError } from "../errors.ts"
import type { Endpoint } from "../Options.ts"
import type { WebSocketHeaders } from "./WebSocketHandshake.ts"

/**
 * Opens a byte socket (TCP, TLS, Unix domain) to `endpoint` within `timeout`; fails with a `ConnectError`
 * (the platform cannot, or the options do not apply) or a `SocketError`.
 */
export type OpenSocket = (
  endpoint: Endpoint,
  timeout: Duration.Duration
) => Effect.Effect<Socket.Socket, ConnectError | Socket.SocketError>

/**
 * Opens a WebSocket to {@link webSocketUrl}`(endpoint, secure)` within `timeout`, offering the
 * subprotocol `mqtt` [MQTT-6.0.0-3], with `headers` in the opening handshake where the platform can send
 * them; fails with a `ConnectError` or a `SocketError`.
 */
export type OpenWebSocket = (
  endpoint: Endpoint,
  secure: boolean,
  timeout: Duration.Duration,
  headers?: WebSocketHeaders
) => Effect.Effect<Socket.Socket, ConnectError | Socket.SocketError>

/**
 * `ws://` or (`secure`) `wss://` `host:port` + `endpoint.path` (default `/mqtt`); an IPv6 host in
 * brackets (RFC 3986 §3.2.2).
 */
export const webSocketUrl = (endpoint: Endpoint, secure: boolean): string => {
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host
  return `${secure ? "wss" : "ws"}://${host}:${endpoint.port}${endpoint.path ?? "/mqtt"}`
}
