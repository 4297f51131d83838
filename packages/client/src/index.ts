/**
 * @aimeqtt/client: an Effect-native MQTT 3.1.1 client.
 *
 * @since 0.1.0
 */
export * from "./errors.ts"
export { AckableMessage, Message, type TypedMessage } from "./Message.ts"
export {
  MqttClient,
  type ConnectionStatus,
  type PublishOptions,
  type PublishSchemaOptions,
  type SubscribeOptions,
  type SubscribeSchemaOptions,
  type Subscription
} from "./MqttClient.ts"
export { defaultReconnect, type ClientOptions, type WillOptions } from "./Options.ts"
export {
  Session,
  type Completion,
  type Request,
  type SessionOptions,
  type Step,
  type StoreChange,
  type StoredFlow,
  type StoredSession
} from "./Session.ts"
export { memory as memorySessionStore, SessionStore, type ClientSessionStore, type SessionStoreShape } from "./SessionStore.ts"
export * as FileSessionStore from "./FileSessionStore.ts"
export type { Protocol, TlsOptions } from "./Options.ts"
