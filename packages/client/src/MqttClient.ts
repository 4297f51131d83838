/**
 * The `MqttClient` service: publish, subscribe and observe the connection, with typed errors.
 *
 * @since 0.1.0
 */
import { outgoingTopicFilterError, outgoingTopicNameError, type QoS, type Suback, type SubscriptionRequest } from "@aimeqtt/codec"
import { Cause, Config, Context, Effect, Layer, Option, Queue, Schema, type Scope, Stream, type SubscriptionRef } from "effect"
import {
  InvalidTopic,
  type LayerError,
  PayloadDecodeError,
  PayloadEncodeError,
  PayloadTooLarge,
  type ConnectionFailure,
  type PublishError,
  type SubscribeError,
  SubscriptionRejected,
  type UnsubscribeError
} from "./errors.ts"
import { AckableMessage, type AckableTypedMessage, type Message, type TypedMessage } from "./Message.ts"
import { type ClientOptions, resolveOptions } from "./Options.ts"
import type { Subscriber } from "./Dispatcher.ts"
import { filterList, payloadTypeError, publishOptionsError, subscribeOptionsError, topicTypeError } from "./Arguments.ts"
import * as Supervisor from "./Supervisor.ts"
import * as Tracing from "./Tracing.ts"

/** Options of `publish`. @since 0.1.0 @category options */
export interface PublishOptions {
  /** Default 0. At 0 `publish` completes once the bytes are handed to the socket; at 1 on PUBACK; at 2 on PUBCOMP. */
  readonly qos?: QoS
  /** Ask the broker to keep the message for future subscribers [MQTT-3.3.1-5]. Default false. */
  readonly retain?: boolean
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
export interface Subscription {
  /** The QoS the broker granted, one per filter, in request order [MQTT-3.9.3]. */
  readonly granted: ReadonlyArray<QoS>
  /**
   * The messages matching any of the filters, each once; ends when the subscription's scope closes. Fails
   * with `SubscriptionRejected` when the broker refuses one of its filters when the client subscribes
   * again after a reconnect without a session (the other filters of that re-subscribe are not affected),
   * and with the last {@link ConnectionFailure} when the client gives up reconnecting (its `reconnect`
   * schedule ended). It ends (without failing) when the client is closed.
   */
  readonly messages: Stream.Stream<Message, SubscriptionRejected | ConnectionFailure>
}

export type { ConnectionStatus } from "./Supervisor.ts"

/**
 * An MQTT 3.1.1 client connected to one broker.
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
   * {@link ConnectionFailure} when the client gave up reconnecting. Interrupting a publish that still waits
   * in the offline queue removes it.
   */
  publish: {
    <P>(topic: string, payload: P & RawPayload<P>, options?: PublishOptions): Effect.Effect<void, PublishError>
    <A, I>(topic: string, value: A, options: PublishSchemaOptions<A, I>): Effect.Effect<void, PublishError>
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
  subscription(filters: string | ReadonlyArray<string>, options?: SubscribeOptions): Effect.Effect<Subscription, SubscribeError, Scope.Scope>
  /** Sends UNSUBSCRIBE and waits for UNSUBACK. Open streams on these filters stay open but receive nothing more. */
  unsubscribe(filters: string | ReadonlyArray<string>): Effect.Effect<void, UnsubscribeError>
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
   * `MQTT_USERNAME`, `MQTT_PASSWORD` (read as `Redacted`) and `MQTT_KEEPALIVE` (seconds); the variables
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
  keepAlive: Config.option(Config.Int("MQTT_KEEPALIVE"))
}).pipe(
  Config.map((values): ClientOptions => ({
    ...Option.match(values.url, { onNone: () => ({}), onSome: (url) => ({ url }) }),
    ...Option.match(values.clientId, { onNone: () => ({}), onSome: (clientId) => ({ clientId }) }),
    ...Option.match(values.username, { onNone: () => ({}), onSome: (username) => ({ username }) }),
    ...Option.match(values.password, { onNone: () => ({}), onSome: (password) => ({ password }) }),
    ...Option.match(values.keepAlive, { onNone: () => ({}), onSome: (keepAlive) => ({ keepAlive }) })
  }))
)

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder()
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

    const publishBytes = (topic: string, payload: Uint8Array, publishOptions: PublishOptions | undefined): Effect.Effect<void, PublishError> => {
      const qos = publishOptions?.qos ?? 0
      const invalid = topicTypeError(topic) ?? publishOptionsError(publishOptions)
      if (invalid !== undefined) return Effect.fail(invalid)
      const reason = outgoingTopicNameError(topic)
      if (reason !== undefined) return Effect.fail(new InvalidTopic({ topic, reason }))
      // A UTF-8 topic is at most 3 bytes per UTF-16 unit: count exactly only near the limit.
      if (payload.length + 3 * topic.length + 4 > MAX_REMAINING_LENGTH) {
        const size = 2 + utf8.encode(topic).length + (qos > 0 ? 2 : 0) + payload.length
        if (size > MAX_REMAINING_LENGTH) return Effect.fail(new PayloadTooLarge({ size, limit: MAX_REMAINING_LENGTH }))
      }
      const retain = publishOptions?.retain ?? false
      const send = (): Effect.Effect<void, PublishError> =>
        (qos === 0 ? engine.publishNow({ _tag: "Publish", topic, payload, qos, retain, dup: false }) : undefined) ??
          Effect.asVoid(engine.request({ _tag: "Publish", topic, payload, qos, retain }))
      // Sent each time the effect runs, never when it is built.
      return Tracing.span("mqtt.publish", () => ({ "mqtt.topic": topic, "mqtt.qos": qos }), send)
    }

    const publish = (topic: string, payload: unknown, publishOptions?: PublishOptions | PublishSchemaOptions<unknown, unknown>) => {
      if (publishOptions !== undefined && "schema" in publishOptions) {
        return Schema.encodeEffect(jsonCodec(publishOptions.schema))(payload).pipe(
          Effect.mapError((error) => new PayloadEncodeError({ topic, message: error.message })),
          Effect.flatMap((json) => publishBytes(topic, utf8.encode(json), publishOptions))
        )
      }
      if (typeof payload === "string") return publishBytes(topic, payload === "" ? new Uint8Array(0) : utf8.encode(payload), publishOptions)
      const wrongPayload = payloadTypeError(String(topic), payload)
      return wrongPayload === undefined ? publishBytes(topic, payload as Uint8Array, publishOptions) : Effect.fail(wrongPayload)
    }

    const subscription = (filters: string | ReadonlyArray<string>, subscribeOptions?: SubscribeOptions) =>
      Effect.gen(function*() {
        const list = yield* validFilters(filters)
        const invalid = subscribeOptionsError(subscribeOptions)
        if (invalid !== undefined) return yield* invalid
        const qos = subscribeOptions?.qos ?? 0
        const requests: Array<SubscriptionRequest> = list.map((filter) => ({ filter, qos }))
        const inbox = yield* Queue.bounded<Message, SubscriptionRejected | ConnectionFailure | Cause.Done>(Math.max(1, subscribeOptions?.bufferSize ?? options.subscriberBufferSize))
        const subscriber = { requests, inbox, manual: subscribeOptions?.ack === "manual" }
        // An UNSUBSCRIBE of one of these filters still unanswered: its UNSUBACK first (see Subscriptions).
        yield* engine.awaitUnsubscribed(list)
        // Registered before SUBSCRIBE goes out, so retained messages that follow SUBACK find the stream.
        const buffered = yield* Effect.acquireRelease(
          Effect.sync(() => engine.dispatcher.register(subscriber)),
          () => engine.release(subscriber)
        )
        const suback = yield* engine.subscribe(subscriber)
        const messages = Stream.fromQueue(inbox)
        return {
          granted: suback.returnCodes as ReadonlyArray<QoS>,
          messages: buffered.length === 0 ? messages : Stream.concat(Stream.fromIterable(buffered), messages)
        }
      }).pipe((self) => Tracing.span("mqtt.subscribe", () => ({ "mqtt.filters": String(filters) }), () => self))

    const subscribe = (filters: string | ReadonlyArray<string>, subscribeOptions?: SubscribeOptions | SubscribeSchemaOptions<unknown, unknown>) => {
      const messages = Stream.unwrap(Effect.map(subscription(filters, subscribeOptions), (s) => s.messages))
      if (subscribeOptions === undefined || !("schema" in subscribeOptions)) return messages
      const decode = Schema.decodeUnknownEffect(jsonCodec(subscribeOptions.schema))
      const policy = subscribeOptions.onDecodeError ?? "fail"
      const typed = (message: Message, value: unknown): TypedMessage<unknown> | AckableTypedMessage<unknown> => {
        const base = { topic: message.topic, value, qos: message.qos, retain: message.retain, dup: message.dup }
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

    const unsubscribe = (filters: string | ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const list = yield* validFilters(filters)
        yield* engine.unsubscribe(list)
      }).pipe((self) => Tracing.span("mqtt.unsubscribe", undefined, () => self))

    return MqttClient.of({
      publish: publish as MqttClient["Service"]["publish"],
      subscribe: subscribe as MqttClient["Service"]["subscribe"],
      subscription,
      unsubscribe,
      messages: Stream.unwrap(Effect.map(engine.dispatcher.all, Stream.fromPubSub)),
      status: engine.status
    })
  })
