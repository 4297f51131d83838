/**
 * Transports: how the client reaches the broker. The URL scheme picks one:
 * - `mqtt://`, `tcp://` ({@link tcp}) and `mqtts://`, `ssl://`, `tls://` ({@link tls}): the raw MQTT byte
 *   stream [MQTT-4.2];
 * - `ws://` and `wss://` ({@link ws}, {@link wss}): MQTT over WebSocket [MQTT-6.0];
 * - `mqtt+unix:///path/to/socket` ({@link unix}): a Unix domain socket.
 *
 * Each transport is one module (`transports/Tcp.ts`, ...) made with {@link make}; the scheme registry
 * ({@link Transports}) is the one table of schemes, aliases and default ports, read by `parseUrl`, by
 * `MqttClient.layer` and by the CLI. A program adds its own transport with {@link layer}:
 *
 * ```ts
 * const memory = Transport.make({ schemes: ["mem"], defaultPort: 0, connect: (endpoint) => ... })
 * MqttClient.layer({ url: "mem://broker" }).pipe(Layer.provide(Transport.layer(memory)))
 * ```
 *
 * The sockets come from `#transport`, a module swapped by the package's `imports` conditions:
 * `Transport.node.ts` (`node:net`, `node:tls`, the `ws` package) by default, `Transport.browser.ts` (the
 * global `WebSocket` only, no Node imports) under the `browser` condition.
 *
 * Every name below is documented where it is declared (`transports/*.ts`).
 *
 * @since 0.1.0
 */
export { type Address, type Channel, fromSocket, fromWebSocket, make, type Transport, type TransportOptions } from "./transports/Definition.ts"
export { builtins, describeEndpoint, find, layer, Transports } from "./transports/Registry.ts"
export { tcp } from "./transports/Tcp.ts"
export { tls } from "./transports/Tls.ts"
export { unix } from "./transports/Unix.ts"
export { ws, wss } from "./transports/WebSocket.ts"
