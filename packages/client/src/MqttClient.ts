/**
 * The `MqttClient` service: publish, subscribe and observe the connection, with typed errors.
 *
 * @since 0.1.0
 */
import {
  encodedLength,
  isSharedSubscription,
  outgoingTopicFilterError,
  outgoingTopicNameError,
  packetError,
  type ProtocolVersion,
  type Packet,
  type Publish,
  type QoS,
  reasonCodeName,
  type SubscriptionRequest,
  type UserProperties
} from "@aimeqtt/codec"
import { Cause, Config, Context, Duration, Effect, Layer, Option, Queue, Schema, type Scope, Stream, type SubscriptionRef } from "effect"
import {
  type AuthenticationFailed,
  type ClientClosed,
  InvalidTopic,
  type LayerError,
  PayloadDecodeError,
  PayloadEncodeError,
  PayloadTooLarge,
  type ConnectionFailure,
  type PublishError,
  type RequestResponseError,
  InvalidOptions,
  PublishRejected,
  type SubscribeError,
  SubscriptionRejected,
  type UnsubscribeError,
  UnsupportedByServer
} from "./errors.ts"
import { AckableMessage, type AckableTypedMessage, type Message, type PublishResult, type TypedMessage } from "./Message.ts"
import type { PublishProperties } from "./SessionStore.ts"
import { type ClientOptions, resolveOptions } from "./Options.ts"
import type { Subscriber } from "./Dispatcher.ts"
import {
  display,
  filterList,
  payloadTypeError,
  publishOptionsError,
  publishPropertiesError,
  subscribeOptionsError,
  topicTypeError
} from "./Arguments.ts"
import { makeRequester } from "./RequestResponse.ts"
import * as Supervisor from "./Supervisor.ts"
import * as Payloads from "./Payloads.ts"
import * as Tracing from "./Tracing.ts"

/** Options of `publish`. @since 0.1.0 @category options */
export interface PublishOptions {
  /** Default 0. At 0 `publish` completes once the bytes are handed to the socket; at 1 on PUBACK; at 2 on PUBCOMP. */
  readonly qos?: QoS
  /** Ask the broker to keep the message for future subscribers [MQTT-3.3.1-5]. Default false. */
  readonly retain?: boolean
  /**
   * MQTT 5.0 only (`protocolVersion: 5`; under 4 the publish fails with `InvalidOptions`): the PUBLISH's
   * properties [MQTT-3.3.2.3]. `userProperties` may be `[name, value]` pairs (in order, names may repeat)
   * or a record; `messageExpiryInterval` is in seconds; `responseTopic` is a topic name (no wildcards);
   * `payloadFormatIndicator: true` says the payload is UTF-8 text. A property that breaks the standard's
   * rules fails with `InvalidOptions` naming it, before anything is sent.
   */
  readonly properties?: PublishPropertiesInput
}

/**
 * The properties `publish` takes ({@link PublishOptions.properties}): those of {@link PublishProperties},
 * with `userProperties` also as a record.
 *
 * @since 0.3.0
 * @category options
 */
export type PublishPropertiesInput = Omit<PublishProperties, "userProperties"> & {
  readonly userProperties?: UserProperties | Readonly<Record<string, string>>
}

/**
 * The payload of a `publish` without `schema`: a string or a `Uint8Array`. For any other value the type
 * carries a property whose name says what is missing, so the compiler's message leads to `options.schema`.
 *
 * @since 0.2.0
 * @category models
 */
export type RawPayload<P> = P extends string | Uint8Array ? unknown
  : { readonly "a payload other than a string or a Uint8Array needs options.schema to encode it": never }

/** `publish` of a value encoded as JSON through a Schema. @since 0.1.0 @category options */
export interface PublishSchemaOptions<A, I> extends PublishOptions {
  readonly schema: Schema.Codec<A, I>
}

/** Options of `request` (MQTT 5.0). @since 0.3.0 @category options */
export interface RequestOptions {
  /** QoS of the request. Default 1. */
  readonly qos?: QoS
  /** How long to wait for the response; `ResponseTimeout` after it. Default: no limit (interrupt instead). */
  readonly timeout?: Duration.Input
  /** More properties of the request (user properties, content type, ...); Response Topic and Correlation Data are the client's. */
  readonly properties?: Omit<PublishPropertiesInput, "responseTopic" | "correlationData">
}

/** Options of `respond` (MQTT 5.0). @since 0.3.0 @category options */
export interface RespondOptions {
  /** QoS of the subscription and of the responses. Default 1. */
  readonly qos?: QoS
  /** Requests handled at once (in any order). Default 16. */
  readonly concurrency?: number
}

/** Options of `subscribe` and `subscription`. @since 0.1.0 @category options */
export interface SubscribeOptions {
  /** The maximum QoS to receive messages at. Default 0. */
  readonly qos?: QoS
  /**
   * "auto" (default): acknowledged once in the stream's buffer. "manual": messages are
   * `AckableMessage`s and their PUBACK/PUBREC goes out only after `message.ack` ran.
   */
  readonly ack?: "auto" | "manual"
  /** Messages this stream buffers before delivery waits (backpressure). Default: the client's `subscriberBufferSize`. */
  readonly bufferSize?: number
  /** MQTT 5.0 only: the broker does not send this client's own publishes back to it [MQTT-3.8.3-3]. Not on a shared subscription [MQTT-3.8.3-4]. Default false. */
  readonly noLocal?: boolean
  /** MQTT 5.0 only: messages keep the RETAIN flag they were published with [MQTT-3.3.1-12] (else it is set only on retained messages sent because of the subscription). Default false. */
  readonly retainAsPublished?: boolean
  /**
   * MQTT 5.0 only: when the broker sends retained messages [MQTT-3.3.1-9..11]: 0 at every subscribe (the
   * default), 1 only when the subscription is new, 2 never.
   */
  readonly retainHandling?: 0 | 1 | 2
}

/**
 * What a Schema subscription does with a payload that does not decode:
 * - `"fail"` (default): the stream fails with `PayloadDecodeError` (topic, what the Schema reported, a
 *   bounded copy of the payload). Nothing after it is delivered; with `ack: "manual"` the bad message is
 *   not acknowledged.
 * - `"skip"`: the error is logged as a warning and the message skipped; the stream goes on.
 * - a function: called with the `PayloadDecodeError` (send it to a dead-letter topic, count it, ...), then
 *   the message is skipped and the stream goes on.
 *
 * A skipped message is acknowledged (also with `ack: "manual"`: the program never sees it, and an
 * unacknowledged message would hold back every later acknowledgement [MQTT-4.6.0-2]).
 *
 * @since 0.2.0
 * @category models
 */
export type DecodeErrorPolicy = "fail" | "skip" | ((error: PayloadDecodeError) => Effect.Effect<void>)

/** The {@link DecodeErrorPolicy} values that skip an undecodable message (the stream never fails with it). @since 0.2.0 @category options */
export type SkippingPolicy = Exclude<DecodeErrorPolicy, "fail">

/** `subscribe` decoding each payload as JSON through a Schema. @since 0.1.0 @category options */
export interface SubscribeSchemaOptions<A, I> extends SubscribeOptions {
  readonly schema: Schema.Codec<A, I>
  /** What an undecodable payload does: see {@link DecodeErrorPolicy}. Default `"fail"`. */
  readonly onDecodeError?: DecodeErrorPolicy
}

/** An acknowledged subscription. @since 0.1.0 @category models */
export interface Subscription<M extends Message = Message> {
  /** The QoS the broker granted, one per filter, in request order [MQTT-3.9.3]. */
  readonly granted: ReadonlyArray<QoS>
  /**
   * The messages matching any of the filters, each once; ends when the subscription's scope closes. Fails
   * with `SubscriptionRejected` when the broker refuses one of its filters when the client subscribes
   * again after a reconnect without a session (the other filters of that re-subscribe are not affected),
   * and with the last {@link ConnectionFailure} when the client gives up reconnecting (its `reconnect`
   * schedule ended). It ends (without failing) when the client is closed.
   */
  readonly messages: Stream.Stream<M, SubscriptionRejected | ConnectionFailure>
}

export type { ConnectionStatus } from "./Supervisor.ts"

/**
 * An MQTT 3.1.1 or 5.0 client (`protocolVersion`) connected to one broker.
 *
 * @example
 * const program = Effect.gen(function*() {
 *   const mqtt = yield* MqttClient
 *   yield* mqtt.publish("home/lights", "on", { qos: 1 })
 *   yield* mqtt.subscribe("sensors/#").pipe(Stream.take(10), Stream.runForEach(Console.log))
 * }).pipe(Effect.provide(MqttClient.layer({ url: "mqtt://localhost:1883" })))
 *
 * @since 0.1.0
 * @category services
 */
export class MqttClient extends Context.Service<MqttClient, {
  /**
   * Publishes a message [MQTT-3.3]: `payload` is a string (sent as UTF-8) or raw bytes. Any other value
   * needs `{ schema }` (see {@link PublishSchemaOptions}), which encodes it as JSON; without it the type
   * error names the missing `options.schema`.
   *
   * Fails with {@link PublishError}: `InvalidTopic`, `PayloadTooLarge`, `PayloadEncodeError` (a schema's
   * value that does not encode) or `InvalidOptions` before anything is sent, `OfflineQueueFull` when disconnected with a full offline queue, `ClientClosed` after close, and a
   * {@link ConnectionFailure} when the client gave up reconnecting; a QoS 0 publish whose connection drops
   * before its bytes reach the socket fails with `ConnectionLost` (retryable: it was not sent). Interrupting
   * a publish that still waits in the offline queue removes it; a QoS 1/2 publish interrupted after it was
   * sent still finishes with the broker [MQTT-4.4.0-1], from a copy of its payload.
   *
   * A `Uint8Array` payload is the caller's again once the publish completes or is interrupted (it is copied
   * into the write buffer): modify or reuse it then, not before.
   */
  publish: {
    <P>(topic: string, payload: P & RawPayload<P>, options?: PublishOptions): Effect.Effect<PublishResult, PublishError>
    <A, I>(topic: string, value: A, options: PublishSchemaOptions<A, I>): Effect.Effect<PublishResult, PublishError>
  }
  /**
   * Subscribes when the stream starts and emits after SUBACK. Fails with `SubscriptionRejected` when
   * the broker refuses any filter (also when it refuses the re-subscribe after a reconnect without a
   * session). When the last stream on a filter ends, UNSUBSCRIBE is sent (see `unsubscribeOnEnd`).
   *
   * With `schema`, each payload is decoded as JSON through it; an undecodable payload fails the stream
   * with `PayloadDecodeError` or is skipped, as `onDecodeError` says (when it skips, the stream's type has
   * no `PayloadDecodeError`). With `ack: "manual"` every message, typed or not, carries `ack`.
   */
  subscribe: {
    <A, I>(
      filters: string | ReadonlyArray<string>,
      options: SubscribeSchemaOptions<A, I> & { readonly ack: "manual"; readonly onDecodeError: SkippingPolicy }
    ): Stream.Stream<AckableTypedMessage<A>, SubscribeError>
    <A, I>(
      filters: string | ReadonlyArray<string>,
      options: SubscribeSchemaOptions<A, I> & { readonly onDecodeError: SkippingPolicy }
    ): Stream.Stream<TypedMessage<A>, SubscribeError>
    <A, I>(
      filters: string | ReadonlyArray<string>,
      options: SubscribeSchemaOptions<A, I> & { readonly ack: "manual" }
    ): Stream.Stream<AckableTypedMessage<A>, SubscribeError | PayloadDecodeError>
    <A, I>(
      filters: string | ReadonlyArray<string>,
      options: SubscribeSchemaOptions<A, I>
    ): Stream.Stream<TypedMessage<A>, SubscribeError | PayloadDecodeError>
    (filters: string | ReadonlyArray<string>, options: SubscribeOptions & { readonly ack: "manual" }): Stream.Stream<AckableMessage, SubscribeError>
    (filters: string | ReadonlyArray<string>, options?: SubscribeOptions): Stream.Stream<Message, SubscribeError>
  }
  /** Subscribes and waits for SUBACK; the subscription lasts as long as the scope. */
  subscription: {
    (
      filters: string | ReadonlyArray<string>,
      options: SubscribeOptions & { readonly ack: "manual" }
    ): Effect.Effect<Subscription<AckableMessage>, SubscribeError, Scope.Scope>
    (filters: string | ReadonlyArray<string>, options?: SubscribeOptions): Effect.Effect<Subscription, SubscribeError, Scope.Scope>
  }
  /** Sends UNSUBSCRIBE and waits for UNSUBACK. Open streams on these filters stay open but receive nothing more. */
  unsubscribe(filters: string | ReadonlyArray<string>): Effect.Effect<void, UnsubscribeError>
  /**
   * MQTT 5.0 request/response in one call [MQTT-4.10]: publishes `payload` to `topic` with a Response Topic
   * and a fresh Correlation Data, and succeeds with the response: the message on the response topic with
   * the same Correlation Data. The client subscribes to its response topic on the first request
   * (`{Response Information}/{random}` when the broker offers Response Information, else
   * `aimeqtt/responses/{random}`) and keeps it. With `responseSchema`, the response payload is decoded as
   * JSON through it (`PayloadDecodeError` when it does not decode).
   *
   * Fails with {@link RequestResponseError}: `ResponseTimeout` after `timeout` (none by default: interrupt it
   * instead), `InvalidOptions` under MQTT 3.1.1, and the errors of `publish` and `subscribe`.
   *
   * @example
   * const reply = yield* mqtt.request("svc/time", "now?", { timeout: "5 seconds" })
   */
  request: {
    <A, I>(topic: string, payload: string | Uint8Array, options: RequestOptions & { readonly responseSchema: Schema.Codec<A, I> }): Effect.Effect<
      TypedMessage<A>,
      RequestResponseError
    >
    (topic: string, payload: string | Uint8Array, options?: RequestOptions): Effect.Effect<Message, Exclude<RequestResponseError, PayloadDecodeError>>
  }
  /**
   * MQTT 5.0: serves requests made with `request` (or any client that sets a Response Topic): subscribes to
   * `filter` and, for each message that has a Response Topic, runs `handler` and publishes its answer to
   * that topic with the request's Correlation Data [MQTT-4.10], up to `concurrency` (default 16) requests at
   * once. One request never stops the service: a message without a Response Topic, a handler that fails
   * or dies, an answer the broker refuses (a Response Topic the responder may not publish to) are logged as
   * warnings and the next requests are served. Runs until interrupted; fails only with the subscription's
   * errors (`InvalidOptions` under MQTT 3.1.1).
   *
   * @example
   * yield* mqtt.respond("svc/time", () => Effect.succeed(new Date().toISOString())).pipe(Effect.forkScoped)
   */
  respond<E, R>(
    filter: string,
    handler: (request: Message) => Effect.Effect<string | Uint8Array, E, R>,
    options?: RespondOptions
  ): Effect.Effect<never, SubscribeError, R>
  /**
   * MQTT 5.0 enhanced authentication: authenticates again on the open connection [MQTT-4.12.1], with the
   * steps of the `authentication` option (a token about to expire, new credentials). Fails with
   * `AuthenticationFailed` when a step fails or the option is missing (a failed step also closes the
   * connection: the reconnect authenticates afresh), with `DisconnectedByServer` when the broker refuses,
   * `ConnectionLost` when not connected, `ClientClosed` after close.
   */
  readonly reauthenticate: Effect.Effect<void, AuthenticationFailed | ConnectionFailure | ClientClosed>
  /** Every incoming message, whether or not a subscription stream takes it. */
  readonly messages: Stream.Stream<Message>
  /** The connection state: Connected, Disconnected (with the cause) or Reconnecting. */
  readonly status: SubscriptionRef.SubscriptionRef<Supervisor.ConnectionStatus>
}>()("@aimeqtt/client/MqttClient") {
  /**
   * Connects to the broker; the layer's scope is the client's lifetime. The first CONNACK decides:
   * refusals 1, 2, 4 and 5 fail with `ConnectionRefused`; network failures and refusal 3 are
   * retried with the `reconnect` schedule for at most `connectTimeout`, then fail with `ConnectError`.
   * Invalid options fail with `InvalidOptions` before anything is dialled.
   * Closing the scope flushes pending writes and sends DISCONNECT.
   */
  static layer(options: ClientOptions = {}): Layer.Layer<MqttClient, LayerError> {
    return Layer.effect(MqttClient, make(options))
  }

  /**
   * Like {@link MqttClient.layer}, with the options read through Effect's `Config` (the convention of
   * effect's own `layerConfig`s): each field may be a `Config`, or the whole options one `Config`.
   * Fails with `Config.ConfigError` when a value is missing or malformed, otherwise as `layer` does.
   *
   * @example
   * MqttClient.layerConfig({ url: Config.String("BROKER_URL"), password: Config.Redacted("BROKER_PASSWORD") })
   * MqttClient.layerConfig(MqttClient.envConfig({ keepAlive: 30 })) // the MQTT_* variables
   */
  static layerConfig(config: Config.Wrap<ClientOptions>): Layer.Layer<MqttClient, LayerError | Config.ConfigError> {
    return Layer.effect(MqttClient, Effect.flatMap(Config.unwrap(config), make))
  }

  /**
   * The client's options from the environment (the `ConfigProvider`): `MQTT_URL`, `MQTT_CLIENT_ID`,
   * `MQTT_USERNAME`, `MQTT_PASSWORD` (read as `Redacted`), `MQTT_KEEPALIVE` (seconds) and
   * `MQTT_PROTOCOL_VERSION` (4 or 5); the variables
   * that are set win over `defaults`. For {@link MqttClient.layerConfig}.
   */
  static envConfig(defaults: ClientOptions = {}): Config.Config<ClientOptions> {
    return Config.map(envOptions, (fromEnv) => ({ ...defaults, ...fromEnv }))
  }
}

const envOptions = Config.all({
  url: Config.option(Config.String("MQTT_URL")),
  clientId: Config.option(Config.String("MQTT_CLIENT_ID")),
  username: Config.option(Config.String("MQTT_USERNAME")),
  password: Config.option(Config.Redacted("MQTT_PASSWORD")),
  keepAlive: Config.option(Config.Int("MQTT_KEEPALIVE")),
  protocolVersion: Config.option(Config.Literals([4, 5], "MQTT_PROTOCOL_VERSION"))
}).pipe(
  Config.map((values): ClientOptions => ({
    ...Option.match(values.url, { onNone: () => ({}), onSome: (url) => ({ url }) }),
    ...Option.match(values.clientId, { onNone: () => ({}), onSome: (clientId) => ({ clientId }) }),
    ...Option.match(values.username, { onNone: () => ({}), onSome: (username) => ({ username }) }),
    ...Option.match(values.password, { onNone: () => ({}), onSome: (password) => ({ password }) }),
    ...Option.match(values.keepAlive, { onNone: () => ({}), onSome: (keepAlive) => ({ keepAlive }) }),
    ...Option.match(values.protocolVersion, { onNone: () => ({}), onSome: (protocolVersion) => ({ protocolVersion }) })
  }))
)

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const isUtf8 = (bytes: Uint8Array): boolean => {
  try {
    strictUtf8.decode(bytes)
    return true
  } catch {
    return false
  }
}

/** A message with its payload decoded to `value`, as a Schema subscription or `request` gives it. */
const typedMessage = <A>(message: Message, value: A): TypedMessage<A> => ({
  topic: message.topic,
  value,
  qos: message.qos,
  retain: message.retain,
  dup: message.dup,
  ...(message.properties !== undefined ? { properties: message.properties } : {})
})

/** The result of a publish nothing answers (QoS 0), or one the broker accepted without saying more. */
const success: PublishResult = { reasonCode: 0, noMatchingSubscribers: false }
const succeeded = Effect.succeed(success)

/** `publish`'s properties as the codec takes them: user properties as pairs, none when empty. */
const publishProperties = (input: PublishPropertiesInput): PublishProperties => {
  const { userProperties, ...rest } = input
  if (userProperties === undefined) return rest
  const pairs: UserProperties = Array.isArray(userProperties)
    ? (userProperties as UserProperties)
    : Object.entries(userProperties as Readonly<Record<string, string>>)
  return pairs.length === 0 ? rest : { ...rest, userProperties: pairs }
}

/**
 * What a publish's acknowledgement means (MQTT 5.0 reason codes [MQTT-3.4.2.1][MQTT-3.5.2.1]): a result,
 * or `PublishRejected` for a code from 0x80 up (a refusing PUBACK, or a refusing PUBREC that ended the flow).
 */
const publishOutcome = (
  topic: string,
  ack: Packet<ProtocolVersion> | undefined
): Effect.Effect<PublishResult, PublishRejected> => {
  if (ack === undefined || !("reasonCode" in ack)) return Effect.succeed(success)
  const code = ack.reasonCode
  const p = "properties" in ack ? ack.properties : undefined
  const reasonString = p !== undefined && "reasonString" in p ? p.reasonString : undefined
  if (code >= 0x80) {
    const carrier = ack._tag === "Pubrec" ? "Pubrec" : "Puback"
    return Effect.fail(
      new PublishRejected({
        topic,
        reasonCode: code,
        reason: reasonCodeName(carrier, code) ?? "Unspecified error",
        ...(reasonString !== undefined ? { reasonString } : {})
      })
    )
  }
  const userProperties = p !== undefined && "userProperties" in p ? p.userProperties : undefined
  if (code === 0 && reasonString === undefined && userProperties === undefined) return Effect.succeed(success)
  return Effect.succeed({
    reasonCode: code,
    noMatchingSubscribers: code === 0x10,
    ...(reasonString !== undefined ? { reasonString } : {}),
    ...(userProperties !== undefined ? { userProperties } : {})
  })
}
const MAX_REMAINING_LENGTH = 268_435_455 // [MQTT-2.2.3]

/** The filters of a request, each once, checked: a string or strings, each a valid topic filter. */
const validFilters = (filters: unknown): Effect.Effect<ReadonlyArray<string>, InvalidTopic> => {
  const list = filterList(filters)
  if (list instanceof InvalidTopic) return Effect.fail(list)
  if (list.length === 0) return Effect.fail(new InvalidTopic({ topic: "", reason: "no topic filter given [MQTT-3.8.3-3]" }))
  for (const filter of list) {
    const reason = outgoingTopicFilterError(filter)
    if (reason !== undefined) return Effect.fail(new InvalidTopic({ topic: filter, reason }))
  }
  return Effect.succeed(list)
}

/**
 * A Schema's JSON text codec: the value's canonical JSON (`Schema.toCodecJson`), so that whatever
 * `publish` encodes, `subscribe` with the same Schema decodes (a `Date` as its ISO string, not `{}`).
 */
const jsonCodec = <A, I>(schema: Schema.Codec<A, I>) => Schema.fromJsonString(Schema.toCodecJson(schema))

const make = (clientOptions: ClientOptions): Effect.Effect<MqttClient["Service"], LayerError, Scope.Scope> =>
  Effect.gen(function*() {
    const options = yield* resolveOptions(clientOptions)
    const engine = yield* Supervisor.make(options)

    const v5 = options.protocolVersion === 5

    /** The topic name the last publish checked and found valid (the check depends on the string only). */
    let validTopic: string | undefined
    const publishBytes = (
      topic: string,
      payload: Uint8Array,
      publishOptions: PublishOptions | undefined
    ): Effect.Effect<PublishResult, PublishError> => {
      const qos = publishOptions?.qos ?? 0
      const invalid = topicTypeError(topic) ?? publishOptionsError(publishOptions)
      if (invalid !== undefined) return Effect.fail(invalid)
      if (topic !== validTopic) {
        const reason = outgoingTopicNameError(topic)
        if (reason !== undefined) return Effect.fail(new InvalidTopic({ topic, reason }))
        validTopic = topic // a program usually publishes to one topic many times: checked once
      }
      // A UTF-8 topic is at most 3 bytes per UTF-16 unit: count exactly only near the limit.
      if (payload.length + 3 * topic.length + 4 > MAX_REMAINING_LENGTH) {
        const size = 2 + utf8.encode(topic).length + (qos > 0 ? 2 : 0) + payload.length
        if (size > MAX_REMAINING_LENGTH) return Effect.fail(new PayloadTooLarge({ size, limit: MAX_REMAINING_LENGTH }))
      }
      const retain = publishOptions?.retain ?? false
      let properties: PublishProperties | undefined
      if (publishOptions?.properties !== undefined) {
        if (!v5) return Effect.fail(new InvalidOptions({ message: "properties: MQTT 5.0 only, set protocolVersion: 5 on the client" }))
        const wrong = publishPropertiesError(publishOptions.properties, "properties")
        if (wrong !== undefined) return Effect.fail(wrong)
        properties = publishProperties(publishOptions.properties)
      }
      if (v5) {
        const refused = serverLimitError(topic, payload, qos, retain, properties)
        if (refused !== undefined) return Effect.fail(refused)
      }
      const send = (): Effect.Effect<PublishResult, PublishError> =>
        (qos === 0 && properties === undefined
          ? engine.publishNow({ _tag: "Publish", topic, payload, qos, retain, dup: false }, succeeded)
          : undefined) ??
          Effect.flatMap(
            engine.request({ _tag: "Publish", topic, payload, qos, retain, ...(properties !== undefined ? { properties } : {}) }),
            (ack) => publishOutcome(topic, ack)
          )
      // Sent each time the effect runs, never when it is built.
      return Tracing.span("mqtt.publish", () => ({ "mqtt.topic": topic, "mqtt.qos": qos }), send)
    }

    /**
     * MQTT 5.0: what the last CONNACK said the broker accepts [MQTT-3.2.2.3]: the QoS, retain, and the size
     * of the packet [MQTT-3.2.2-15]; properties that break the standard's rules.
     */
    const serverLimitError = (
      topic: string,
      payload: Uint8Array,
      qos: QoS,
      retain: boolean,
      properties: PublishProperties | undefined
    ): PublishError | undefined => {
      // The packet as it will be encoded, built only for the checks that need it (not on the plain hot path).
      let built: Publish<5> | undefined
      const packet = (): Publish<5> =>
        built ??= {
          _tag: "Publish",
          topic,
          payload,
          qos,
          retain,
          dup: false,
          ...(qos > 0 ? { packetId: 1 } : {}),
          ...(properties !== undefined ? { properties } : {})
        }
      if (properties !== undefined) {
        const issue = packetError<5>(packet(), 5)
        if (issue !== undefined) return new InvalidOptions({ message: `invalid publish properties: ${issue}` })
        // A receiver may refuse it (PUBACK 0x99 Payload format invalid, section 3.3.2.3.2): said here, before sending.
        if (properties.payloadFormatIndicator === true && !isUtf8(payload)) {
          return new InvalidOptions({ message: "properties.payloadFormatIndicator says the payload is UTF-8 text, but it is not valid UTF-8" })
        }
      }
      const negotiated = engine.negotiated()
      if (negotiated === undefined) return undefined
      if (qos > negotiated.maximumQoS) {
        return new UnsupportedByServer({
          feature: "qos",
          message: `the broker accepts publishes up to QoS ${negotiated.maximumQoS} (CONNACK's Maximum QoS), this one is QoS ${qos} [MQTT-3.2.2-11]`
        })
      }
      if (retain && !negotiated.retainAvailable) {
        return new UnsupportedByServer({
          feature: "retain",
          message: "the broker does not accept retained messages (CONNACK's Retain Available is 0) [MQTT-3.2.2-14]"
        })
      }
      const limit = negotiated.maximumPacketSize
      if (limit !== undefined && (properties !== undefined || payload.length + 3 * topic.length + 9 > limit)) {
        const size = encodedLength<5>(packet(), { protocolVersion: 5 })
        // [MQTT-3.2.2-15]: the client must not send a packet above the broker's Maximum Packet Size.
        if (size > limit) return new PayloadTooLarge({ size, limit })
      }
      return undefined
    }
    const publish = (topic: string, payload: unknown, publishOptions?: PublishOptions | PublishSchemaOptions<unknown, unknown>) => {
      if (publishOptions !== undefined && "schema" in publishOptions) {
        return Schema.encodeEffect(jsonCodec(publishOptions.schema))(payload).pipe(
          Effect.mapError((error) => new PayloadEncodeError({ topic, message: error.message })),
          Effect.flatMap((json) => publishBytes(topic, Payloads.own(utf8.encode(json)), publishOptions))
        )
      }
      if (typeof payload === "string") return publishBytes(topic, payload === "" ? new Uint8Array(0) : Payloads.own(utf8.encode(payload)), publishOptions)
      const wrongPayload = payloadTypeError(display(topic), payload)
      return wrongPayload === undefined ? publishBytes(topic, payload as Uint8Array, publishOptions) : Effect.fail(wrongPayload)
    }

    const subscription = (filters: string | ReadonlyArray<string>, subscribeOptions?: SubscribeOptions) =>
      Effect.gen(function*() {
        const list = yield* validFilters(filters)
        const invalid = subscribeOptionsError(subscribeOptions)
        if (invalid !== undefined) return yield* invalid
        const qos = subscribeOptions?.qos ?? 0
        const requests = yield* subscriptionRequests(list, qos, subscribeOptions)
        const inbox = yield* Queue.bounded<Message, SubscriptionRejected | ConnectionFailure | Cause.Done>(Math.max(1, subscribeOptions?.bufferSize ?? options.subscriberBufferSize))
        // `opening` until SUBACK: see Dispatcher (a backlog larger than the buffer must not stall the reader).
        const subscriber: Subscriber = { requests, inbox, manual: subscribeOptions?.ack === "manual", opening: true }
        // An UNSUBSCRIBE of one of these filters still unanswered: its UNSUBACK first (see Subscriptions).
        yield* engine.awaitUnsubscribed(list)
        // Registered before SUBSCRIBE goes out, so retained messages that follow SUBACK find the stream.
        const buffered = yield* Effect.acquireRelease(
          Effect.sync(() => engine.dispatcher.register(subscriber)),
          () => engine.release(subscriber)
        )
        const suback = yield* engine.subscribe(subscriber)
        const drain = engine.dispatcher.opened(subscriber)
        if (drain !== undefined) yield* Effect.forkScoped(drain)
        const messages = Stream.fromQueue(inbox)
        // Buffered messages were acknowledged when they arrived: a manual stream gets them with an `ack` that
        // has nothing left to do, so every message of a manual stream is an AckableMessage.
        const early = subscriber.manual ? buffered.map((m) => new AckableMessage(m, Effect.void)) : buffered
        return {
          granted: suback.returnCodes as ReadonlyArray<QoS>,
          messages: early.length === 0 ? messages : Stream.concat(Stream.fromIterable(early), messages)
        }
      }).pipe((self) => Tracing.span("mqtt.subscribe", () => ({ "mqtt.filters": display(filters) }), () => self))

    const subscribe = (filters: string | ReadonlyArray<string>, subscribeOptions?: SubscribeOptions | SubscribeSchemaOptions<unknown, unknown>) => {
      const messages = Stream.unwrap(Effect.map(subscription(filters, subscribeOptions), (s) => s.messages))
      if (subscribeOptions === undefined || !("schema" in subscribeOptions)) return messages
      const decode = Schema.decodeUnknownEffect(jsonCodec(subscribeOptions.schema))
      const policy = subscribeOptions.onDecodeError ?? "fail"
      const typed = (message: Message, value: unknown): TypedMessage<unknown> | AckableTypedMessage<unknown> => {
        const base = typedMessage(message, value)
        return message instanceof AckableMessage ? { ...base, ack: message.ack } : base
      }
      const skip = (message: Message, error: PayloadDecodeError): Effect.Effect<undefined> => {
        const report = policy === "skip"
          ? Effect.logWarning(`MQTT: skipped a message on ${error.topic} whose payload (${error.payloadSize} bytes) did not decode: ${error.message}`)
          : policy === "fail" ? Effect.void : policy(error)
        return Effect.as(Effect.andThen(report, message instanceof AckableMessage ? message.ack : Effect.void), undefined)
      }
      return messages.pipe(
        Stream.mapEffect((message) =>
          decode(utf8Decoder.decode(message.payload)).pipe(
            Effect.map((value) => typed(message, value)),
            Effect.catch((cause) => {
              const error = PayloadDecodeError.fromPayload(message.topic, message.payload, cause.message)
              return policy === "fail" ? Effect.fail(error) : skip(message, error)
            })
          )
        ),
        Stream.filter((message): message is TypedMessage<unknown> => message !== undefined)
      )
    }

    /**
     * The SUBSCRIBE entries of a stream: MQTT 5.0 adds the subscription options [MQTT-3.8.3.1], and checks
     * what the last CONNACK said the broker supports (wildcards, shared subscriptions [MQTT-3.2.2.3]).
     */
    const subscriptionRequests = (
      filters: ReadonlyArray<string>,
      qos: QoS,
      subscribeOptions: SubscribeOptions | undefined
    ): Effect.Effect<ReadonlyArray<SubscriptionRequest<ProtocolVersion>>, InvalidOptions | UnsupportedByServer> => {
      const noLocal = subscribeOptions?.noLocal
      const retainAsPublished = subscribeOptions?.retainAsPublished
      const retainHandling = subscribeOptions?.retainHandling
      const given = [noLocal !== undefined ? "noLocal" : "", retainAsPublished !== undefined ? "retainAsPublished" : "", retainHandling !== undefined ? "retainHandling" : ""]
        .filter((name) => name !== "")
      if (!v5) {
        if (given.length > 0) return Effect.fail(new InvalidOptions({ message: `${given.join(", ")}: MQTT 5.0 only, set protocolVersion: 5 on the client` }))
        return Effect.succeed(filters.map((filter) => ({ filter, qos })))
      }
      if (noLocal !== undefined && typeof noLocal !== "boolean") return Effect.fail(new InvalidOptions({ message: `noLocal must be a boolean, got ${String(noLocal)}` }))
      if (retainAsPublished !== undefined && typeof retainAsPublished !== "boolean") {
        return Effect.fail(new InvalidOptions({ message: `retainAsPublished must be a boolean, got ${String(retainAsPublished)}` }))
      }
      if (retainHandling !== undefined && retainHandling !== 0 && retainHandling !== 1 && retainHandling !== 2) {
        return Effect.fail(new InvalidOptions({ message: `retainHandling must be 0, 1 or 2 [MQTT-3.8.3-5], got ${String(retainHandling)}` }))
      }
      const negotiated = engine.negotiated()
      for (const filter of filters) {
        // One subscription per filter at the broker: a later SUBSCRIBE replaces the options [MQTT-3.8.4-3], so
        // streams on one filter must agree on those that shape delivery.
        const open = engine.dispatcher.subscriptions.openRequest(filter)
        if (open !== undefined && "noLocal" in open) {
          const differ = [
            (noLocal ?? false) !== open.noLocal ? `noLocal: ${String(open.noLocal)}` : undefined,
            (retainAsPublished ?? false) !== open.retainAsPublished ? `retainAsPublished: ${String(open.retainAsPublished)}` : undefined
          ].filter((d) => d !== undefined)
          if (differ.length > 0) {
            return Effect.fail(new InvalidOptions({
              message: `another open stream on ${JSON.stringify(filter)} subscribed with ${differ.join(", ")}; the broker keeps one set of ` +
                "options per filter and client (a new SUBSCRIBE replaces them [MQTT-3.8.4-3]): use the same options, or another filter"
            }))
          }
        }
        const shared = isSharedSubscription(filter)
        if (shared && noLocal === true) {
          return Effect.fail(new InvalidOptions({ message: `noLocal cannot be set on the shared subscription ${JSON.stringify(filter)} [MQTT-3.8.3-4]` }))
        }
        if (shared && negotiated?.sharedSubscriptionAvailable === false) {
          return Effect.fail(new UnsupportedByServer({
            feature: "shared-subscriptions",
            message: `the broker does not support shared subscriptions such as ${JSON.stringify(filter)} (CONNACK's Shared Subscription Available is 0)`
          }))
        }
        if (negotiated?.wildcardSubscriptionAvailable === false && /[+#]/.test(filter)) {
          return Effect.fail(new UnsupportedByServer({
            feature: "wildcard-subscriptions",
            message: `the broker does not support wildcards such as in ${JSON.stringify(filter)} (CONNACK's Wildcard Subscription Available is 0)`
          }))
        }
      }
      return Effect.succeed(filters.map((filter) => ({
        filter,
        qos,
        noLocal: noLocal ?? false,
        retainAsPublished: retainAsPublished ?? false,
        retainHandling: retainHandling ?? 0
      })))
    }

    const unsubscribe = (filters: string | ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const list = yield* validFilters(filters)
        yield* engine.unsubscribe(list)
      }).pipe((self) => Tracing.span("mqtt.unsubscribe", undefined, () => self))

    const requester = makeRequester({
      publish: (topic, payload, publishOptions) => publishBytes(topic, payload, publishOptions),
      subscription: (filter) => subscription(filter, { qos: 1 }),
      negotiated: engine.negotiated,
      protocolVersion: options.protocolVersion,
      scope: yield* Effect.scope
    })

    const request = (
      topic: string,
      payload: string | Uint8Array,
      requestOptions?: RequestOptions & { readonly responseSchema?: Schema.Codec<unknown, unknown> }
    ): Effect.Effect<Message | TypedMessage<unknown>, RequestResponseError> =>
      Effect.gen(function*() {
        const timeout = requestOptions?.timeout === undefined ? undefined : yield* Option.match(Duration.fromInput(requestOptions.timeout), {
          onNone: () => Effect.fail(new InvalidOptions({ message: `timeout is not a valid duration: ${String(requestOptions.timeout)}` })),
          onSome: (d) =>
            Duration.isGreaterThan(d, Duration.zero)
              ? Effect.succeed(d)
              : Effect.fail(new InvalidOptions({ message: `timeout must be longer than 0, got ${Duration.format(d)}` }))
        })
        if (requestOptions?.properties !== undefined) {
          const wrong = publishPropertiesError(requestOptions.properties, "properties")
          if (wrong !== undefined) return yield* wrong
        }
        const bytes = typeof payload === "string" ? utf8.encode(payload) : payload
        const wrongPayload = payloadTypeError(display(topic), payload)
        if (wrongPayload !== undefined) return yield* wrongPayload
        const response = yield* requester.request(topic, bytes, {
          ...(requestOptions?.qos !== undefined ? { qos: requestOptions.qos } : {}),
          timeout,
          properties: requestOptions?.properties
        })
        const schema = requestOptions?.responseSchema
        if (schema === undefined) return response
        const value = yield* Schema.decodeUnknownEffect(jsonCodec(schema))(utf8Decoder.decode(response.payload)).pipe(
          Effect.mapError((cause) => PayloadDecodeError.fromPayload(response.topic, response.payload, cause.message))
        )
        return typedMessage(response, value)
      })

    const respond = <E, R>(
      filter: string,
      handler: (request: Message) => Effect.Effect<string | Uint8Array, E, R>,
      respondOptions?: RespondOptions
    ): Effect.Effect<never, SubscribeError, R> => {
      if (!v5) {
        return Effect.fail(new InvalidOptions({ message: "respond needs MQTT 5.0 (Response Topic, Correlation Data): set protocolVersion: 5 on the client" }))
      }
      const qos = respondOptions?.qos ?? 1
      const concurrency = respondOptions?.concurrency ?? 16
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        return Effect.fail(new InvalidOptions({ message: `concurrency must be a positive integer, got ${String(concurrency)}` }))
      }
      const requests: Stream.Stream<Message, SubscribeError | ConnectionFailure> = Stream.unwrap(
        Effect.map(subscription(filter, { qos }), (s) => s.messages)
      )
      /** One request: its handler and its response. A failure is logged; the service goes on for the others. */
      const serve = (message: Message): Effect.Effect<void, never, R> => {
        const responseTopic = message.properties?.responseTopic
        if (responseTopic === undefined) {
          return Effect.logWarning(`MQTT: respond on ${filter}: skipped a message on ${message.topic} that has no Response Topic`)
        }
        const correlationData = message.properties?.correlationData
        return Effect.flatMap(handler(message), (answer) =>
          publishBytes(responseTopic, typeof answer === "string" ? utf8.encode(answer) : answer, {
            qos,
            // The request's Correlation Data goes back unchanged (section 4.10.2).
            ...(correlationData !== undefined ? { properties: { correlationData } } : {})
          })).pipe(
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause)
                ? Effect.failCause(cause as Cause.Cause<never>)
                : Effect.logWarning(`MQTT: respond on ${filter}: the request on ${message.topic} (response to ${responseTopic}) failed`, cause)
            ),
            Effect.asVoid
          )
      }
      return requests.pipe(Stream.mapEffect(serve, { concurrency, unordered: true }), Stream.runDrain, Effect.andThen(Effect.never))
    }

    return MqttClient.of({
      request: request as MqttClient["Service"]["request"],
      reauthenticate: engine.reauthenticate,
      respond,
      publish: publish as MqttClient["Service"]["publish"],
      subscribe: subscribe as MqttClient["Service"]["subscribe"],
      // A manual-ack stream's messages are AckableMessages (the dispatcher makes them so for `manual` subscribers).
      subscription: subscription as MqttClient["Service"]["subscription"],
      unsubscribe,
      messages: Stream.unwrap(Effect.map(engine.dispatcher.all, Stream.fromPubSub)),
      status: engine.status
    })
  })
