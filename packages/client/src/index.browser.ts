/**
 * @aimeqtt/client's portable API, the entry browsers get (the `browser` export condition); `index.ts`
 * re-exports it and adds the Node-only modules (`FileSessionStore`). The transport is swapped too, by the `#transport`
 * import condition: WebSocket through the global `WebSocket`, no Node module on this path.
 * `test/browser.test.ts` checks that both entries export the same names.
 *
 * @since 0.1.0
 */
export * from "./errors.ts"
export {
  AckableMessage,
  type AckableTypedMessage,
  Message,
  type MessageProperties,
  type PublishResult,
  type TypedMessage
} from "./Message.ts"
export type { Negotiated } from "./Handshake.ts"
export {
  MqttClient,
  type ConnectionStatus,
  type PublishOptions,
  type PublishPropertiesInput,
  type PublishSchemaOptions,
  type RequestOptions,
  type RespondOptions,
  type RawPayload,
  type SubscribeOptions,
  type DecodeErrorPolicy,
  type SkippingPolicy,
  type SubscribeSchemaOptions,
  type Subscription
} from "./MqttClient.ts"
export {
  type AuthenticationOptions,
  type ClientOptions,
  type ConnectRequest,
  defaultReconnect,
  type Endpoint,
  parseUrl,
  type WillOptions
} from "./Options.ts"
// The session state machine (Session, Step, Request, ...) is the engine's, not public API: only the shapes
// a custom SessionStore reads and writes are exported.
export type { StoreChange, StoredFlow, StoredSession } from "./Session.ts"
export type { PublishProperties } from "./SessionStore.ts"
export { memory as memorySessionStore, SessionStore, type ClientSessionStore, type SessionStoreShape } from "./SessionStore.ts"
export * as IndexedDbSessionStore from "./IndexedDbSessionStore.ts"
export type { Protocol, TlsOptions, TlsVersion } from "./Options.ts"
export type { ProxyEndpoint, ProxyOption, ProxyProtocol } from "./transports/ProxyUrl.ts"
export type { WebSocketHandshake, WebSocketHeaders, WebSocketOptions } from "./transports/WebSocketHandshake.ts"
export * as Transport from "./Transport.ts"
