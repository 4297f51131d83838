/**
 * The browser sockets of the built-in transports: WebSocket only, through the global `WebSocket`
 * constructor; TCP, TLS and Unix domain sockets fail with a `ConnectError` that says so. No Node module
 * is imported on this path. Selected through the package's `#transport` import under the `browser`
 * condition; `Transport.node.ts` has the same exports.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Socket } from "effect/socket"
import { ConnectError, InvalidOptions } from "./errors.ts"
import type { Endpoint } from "./Options.ts"
import { type OpenSocket, type OpenWebSocket, webSocketUrl } from "./transports/PlatformSockets.ts"

const unavailable = (endpoint: Endpoint, socket: string): Effect.Effect<never, ConnectError> =>
  Effect.fail(
    new ConnectError({
      message: `${endpoint.protocol}:// needs ${socket}, which browsers do not have: use a ws:// or wss:// URL`
    })
  )

/**
 * Fails: browsers cannot open TCP connections.
 *
 * @since 0.4.0
 */
export const tcp: OpenSocket = (endpoint) =>
  unavailable(endpoint, "a TCP socket")

/**
 * Fails: browsers cannot open TCP connections, so no TLS over them either.
 *
 * @since 0.4.0
 */
export const tls: OpenSocket = (endpoint) =>
  unavailable(endpoint, "a TCP socket")

/**
 * Fails: browsers cannot open Unix domain sockets.
 *
 * @since 0.4.0
 */
export const unix: OpenSocket = (endpoint) =>
  unavailable(endpoint, "a Unix domain socket")

/**
 * A WebSocket to `ws://` or (`secure`) `wss://` `host:port` + `endpoint.path` through the global
 * `WebSocket`, offering the subprotocol `mqtt` [MQTT-6.0.0-3]. `tls` options fail: the browser's own
 * certificate store and settings decide. Handshake `headers` and a `proxy` fail for good (a `ConnectError`
 * with an `InvalidOptions` cause, not retried): the browser's `WebSocket` cannot set headers, and the
 * browser's own proxy settings apply to it.
 *
 * @since 0.4.0
 */
export const webSocket: OpenWebSocket = (endpoint, secure, timeout, headers) => {
  const impossible = headers !== undefined && Object.keys(headers).length > 0
    ? "websocket headers cannot be sent from a browser: its WebSocket cannot set handshake headers (put a token in the URL's query, e.g. with websocket.handshake)"
    : endpoint.proxy !== undefined
    ? "the proxy option cannot be applied in a browser: the browser's own proxy settings decide"
    : undefined
  if (impossible !== undefined) {
    return Effect.fail(new ConnectError({ message: impossible, cause: new InvalidOptions({ message: impossible }) }))
  }
  if (endpoint.tls !== undefined) {
    return Effect.fail(
      new ConnectError({
        message: "tls options cannot be applied in a browser: the browser's own certificate store and settings decide"
      })
    )
  }
  const url = webSocketUrl(endpoint, secure)
  // The subprotocol `mqtt` [MQTT-6.0.0-3]; the browser fails the handshake if the broker does not select it.
  return Socket.makeWebSocket(url, { openTimeout: timeout, protocols: "mqtt" }).pipe(
    Effect.provide(Socket.layerWebSocketConstructorGlobal)
  )
}
