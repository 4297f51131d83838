/**
 * The browser part of {@link Transport}: WebSocket only, through the global `WebSocket`
 * constructor. No Node module is imported on this path. Selected through the package's
 * `#transport` import under the `browser` condition.
 *
 * @since 0.1.0
 */
import { type Duration, Effect } from "effect"
import { Socket } from "effect/socket"
import { ConnectError } from "./errors.ts"
import type { Endpoint } from "./Options.ts"

/**
 * A WebSocket for a `ws://`/`wss://` endpoint; `mqtt://` and `mqtts://` fail, since browsers
 * cannot open TCP connections.
 *
 * @since 0.1.0
 */
export const makeSocket = (endpoint: Endpoint, timeout: Duration.Duration): Effect.Effect<Socket.Socket, ConnectError> => {
  if (endpoint.protocol !== "ws" && endpoint.protocol !== "wss") {
    return Effect.fail(
      new ConnectError({
        message: `${endpoint.protocol}:// needs a TCP socket, which browsers do not have: use a ws:// or wss:// URL`
      })
    )
  }
  if (endpoint.tls !== undefined) {
    return Effect.fail(
      new ConnectError({
        message: "tls options cannot be applied in a browser: the browser's own certificate store and settings decide"
      })
    )
  }
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host
  const url = `${endpoint.protocol}://${host}:${endpoint.port}${endpoint.path ?? "/mqtt"}`
  // The subprotocol `mqtt` [MQTT-6.0.0-3]; the browser fails the handshake if the broker does not select it.
  return Socket.makeWebSocket(url, { openTimeout: timeout, protocols: "mqtt" }).pipe(
    Effect.provide(Socket.layerWebSocketConstructorGlobal)
  )
}
