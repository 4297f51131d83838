/**
 * An application message received from the broker.
 *
 * @since 0.1.0
 */
import type { QoS } from "@aimeqtt/codec"
import type { Effect } from "effect"

const utf8 = new TextDecoder()

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

  constructor(topic: string, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean) {
    this.topic = topic
    this.payload = payload
    this.qos = qos
    this.retain = retain
    this.dup = dup
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
    super(message.topic, message.payload, message.qos, message.retain, message.dup)
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
