/**
 * An application message received from the broker.
 *
 * @since 0.1.0
 */
import type { PropertiesOf, QoS, UserProperties } from "@aimeqtt/codec"
import type { Effect } from "effect"

const utf8 = new TextDecoder()

/**
 * The MQTT 5.0 properties of a received message [MQTT-3.3.2.3]: `payloadFormatIndicator` (true: UTF-8
 * text), `messageExpiryInterval` (seconds left), `contentType`, `responseTopic`, `correlationData`,
 * `userProperties` (`[name, value]` pairs, in order, names may repeat) and `subscriptionIdentifiers` (those
 * of the subscriptions it matched). A Topic Alias is resolved by the client and not shown.
 *
 * @since 0.3.0
 * @category models
 */
export type MessageProperties = Omit<PropertiesOf["Publish"], "topicAlias">

/**
 * What the broker answered to a `publish`.
 * - `reasonCode`: 0 Success, or 0x10 No matching subscribers (MQTT 5.0: the broker took the message but no
 *   subscription matched it [MQTT-3.4.2.1]). Always 0 in MQTT 3.1.1 and at QoS 0 (nothing answers it).
 * - `noMatchingSubscribers`: `reasonCode === 0x10`.
 * - `reasonString`, `userProperties`: those of the broker's PUBACK/PUBREC/PUBCOMP (MQTT 5.0), if any.
 *
 * A refusal (a code from 0x80 up) is not a result but the error `PublishRejected`.
 *
 * @since 0.3.0
 * @category models
 */
export interface PublishResult {
  readonly reasonCode: number
  readonly noMatchingSubscribers: boolean
  readonly reasonString?: string
  readonly userProperties?: UserProperties
}

/**
 * A message delivered to a subscription: topic, raw payload and the PUBLISH flags.
 * `payload` may be a view into the connection's read buffer: copy it (`payload.slice()`) before
 * mutating it.
 *
 * @since 0.1.0
 * @category models
 */
export class Message {
  /** The topic name the message was published to. */
  readonly topic: string
  /** The payload bytes. */
  readonly payload: Uint8Array
  /** The QoS the broker delivered it with (at most the subscription's granted QoS). */
  readonly qos: QoS
  /** Set when the broker sends a retained message because of a new subscription [MQTT-3.3.1-9]. */
  readonly retain: boolean
  /** Set when this is a re-delivery of an earlier attempt [MQTT-3.3.1-1]. */
  readonly dup: boolean
  /** MQTT 5.0: the message's properties, when it had any (see {@link MessageProperties}); always `undefined` in 3.1.1. */
  readonly properties: MessageProperties | undefined

  constructor(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean, properties?: MessageProperties) {
    this.topic = topic
    this.payload = payload
    this.qos = qos
    this.retain = retain
    this.dup = dup
    this.properties = properties
  }

  /** The payload decoded as UTF-8 text (invalid sequences become U+FFFD). */
  get text(): string {
    return utf8.decode(this.payload)
  }
}

/**
 * A message of a `subscribe(filter, { ack: "manual" })` stream. Its PUBACK (QoS 1) or PUBREC (QoS 2)
 * goes out only once `ack` ran (in every manual stream that got it), in arrival order
 * [MQTT-4.6.0-2]. Messages never acknowledged are re-delivered by the broker after a reconnect of a
 * persistent session. `ack` is idempotent; at QoS 0 it does nothing.
 *
 * @since 0.1.0
 * @category models
 */
export class AckableMessage extends Message {
  /** Acknowledges the message to the broker. */
  readonly ack: Effect.Effect<void>

  constructor(message: Message, ack: Effect.Effect<void>) {
    super(message.topic, message.payload, message.qos, message.retain, message.dup, message.properties)
    this.ack = ack
  }
}

/**
 * A message whose payload was decoded with a Schema (see `subscribe(filter, { schema })`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TypedMessage<A> {
  readonly topic: string
  readonly value: A
  readonly qos: QoS
  readonly retain: boolean
  readonly dup: boolean
  /** MQTT 5.0: the message's properties, when it had any (see {@link MessageProperties}). */
  readonly properties?: MessageProperties | undefined
}

/**
 * A message of a `subscribe(filter, { schema, ack: "manual" })` stream: the decoded value, and `ack` as
 * on {@link AckableMessage} (its PUBACK/PUBREC goes out only once `ack` ran).
 *
 * @since 0.2.0
 * @category models
 */
export interface AckableTypedMessage<A> extends TypedMessage<A> {
  /** Acknowledges the message to the broker. */
  readonly ack: Effect.Effect<void>
}
