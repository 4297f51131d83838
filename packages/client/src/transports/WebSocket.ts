/**
 * MQTT over WebSocket [MQTT-6.0]: `ws://` (port 80) and `wss://` (port 443, with the `tls` options in
 * Node). Binary frames only [MQTT-6.0.0-1], the subprotocol `mqtt` [MQTT-6.0.0-3/4]; a packet may span
 * frames and a frame may hold several packets [MQTT-6.0.0-2]. Node uses the `ws` package (loaded on first
 * use), a browser its global `WebSocket`. Before every attempt the `websocket` option's handshake Effect runs
 * (`WebSocketHandshake.ts`): it may give a new URL and headers.
 *
 * @since 0.4.0
 */
import { Effect } from "effect"
import * as Platform from "#transport"
import { fromWebSocket, make, type Transport } from "./Definition.ts"
import { prepare } from "./WebSocketHandshake.ts"

/**
 * The WebSocket transport: `ws://host:port/path?query` (default port 80; a URL without a path takes the
 * `wsPath` option, default `/mqtt`).
 *
 * @since 0.4.0
 * @category transports
 */
export const ws: Transport = make({
  schemes: ["ws"],
  defaultPort: 80,
  address: "http",
  connect: (endpoint, timeout) =>
    Effect.flatMap(prepare(endpoint, "ws"), (next) =>
      Effect.flatMap(Platform.webSocket(next.endpoint, false, timeout, next.headers), fromWebSocket))
})

/**
 * The WebSocket over TLS transport: `wss://host:port/path?query` (default port 443). In Node the `tls`
 * options apply and a failed handshake has a `TlsError` cause; a browser decides with its own trust store.
 *
 * @since 0.4.0
 * @category transports
 */
export const wss: Transport = make({
  schemes: ["wss"],
  defaultPort: 443,
  address: "http",
  secure: true,
  connect: (endpoint, timeout) =>
    Effect.flatMap(prepare(endpoint, "wss"), (next) =>
      Effect.flatMap(Platform.webSocket(next.endpoint, true, timeout, next.headers), fromWebSocket))
})
