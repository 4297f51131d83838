/**
 * Test helpers: real and fake MQTT brokers for the client's tests.
 *
 * - {@link Mosquitto}: real mosquitto processes (+ `mosquitto_sub` / `mosquitto_pub` peers).
 * - {@link Ejabberd}: a real ejabberd with mod_mqtt, a second MQTT 5.0 broker.
 * - {@link AedesBroker}: embedded aedes broker with auth/subscribe hooks and observation.
 * - {@link Certificates}: throw-away CA, server and client certificates (openssl) for TLS tests.
 * - {@link CutProxy}: TCP proxy that cuts, truncates or freezes connections.
 * - {@link FakeBroker}: scripted raw-bytes broker for protocol-violation tests.
 * - {@link HttpProxy}, {@link SocksProxy}: real proxies (tinyproxy, microsocks) for the `proxy` option.
 * - {@link WsGate}: records (and refuses) WebSocket handshakes in front of a broker's WebSocket listener.
 */
export * from "./Aedes.ts"
export * from "./Certificates.ts"
export * from "./CutProxy.ts"
export * from "./Ejabberd.ts"
export * from "./FakeBroker.ts"
export { BrokerError, freePort } from "./internal.ts"
export * from "./Mosquitto.ts"
export * from "./Proxies.ts"
export * from "./RabbitMQ.ts"
export * from "./WsGate.ts"
