/**
 * Field schemas shared by several packets: the protocol version, QoS, packet identifiers and the
 * integer widths of the wire format [MQTT-1.5.2].
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The protocol version a codec speaks: 4 is MQTT 3.1.1 (and 3.1, "MQIsdp", on decode of CONNECT), 5
 * is MQTT 5.0. Every encoder and decoder takes it as `protocolVersion`, 4 by default.
 *
 * @since 0.3.0
 * @category models
 */
export type ProtocolVersion = 4 | 5

/**
 * Quality of service level [MQTT-4.3].
 *
 * @since 0.1.0
 * @category packets
 */
export const QoS = Schema.Literals([0, 1, 2])
/**
 * @since 0.1.0
 * @category packets
 */
export type QoS = typeof QoS.Type

/**
 * A non-zero 16-bit packet identifier [MQTT-2.2.1-3].
 *
 * @since 0.1.0
 * @category packets
 */
export const PacketId = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 65535 }))

const integer = (minimum: number, maximum: number) =>
  Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum, maximum }))

/** A Two Byte Integer [MQTT-1.5.2]. */
export const UInt16 = integer(0, 0xffff)

/** A Two Byte Integer that may not be 0 (Receive Maximum, Topic Alias). */
export const NonZeroUInt16 = integer(1, 0xffff)

/** A Four Byte Integer [MQTT-1.5.3]. */
export const UInt32 = integer(0, 0xffff_ffff)

/** A Four Byte Integer that may not be 0 (Maximum Packet Size). */
export const NonZeroUInt32 = integer(1, 0xffff_ffff)

/** A Subscription Identifier: a Variable Byte Integer from 1 to 268,435,455 [MQTT-3.8.2.1.2]. */
export const SubscriptionIdentifier = integer(1, 268_435_455)
