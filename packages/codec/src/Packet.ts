/**
 * Schema models of the 14 MQTT 3.1.1 control packets, tagged by `_tag`, and the `Packet` union.
 *
 * The models are plain structs (no classes) so the decoder can build them as object literals on the
 * hot path. The schemas validate field ranges; topic and filter rules live in `Topic.ts`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** Quality of service level [MQTT-4.3]. @since 0.1.0 @category packets */
export const QoS = Schema.Literals([0, 1, 2])
/** @since 0.1.0 @category packets */
export type QoS = typeof QoS.Type

/** A non-zero 16-bit packet identifier [MQTT-2.3.1-1]. @since 0.1.0 @category packets */
export const PacketId = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 65535 }))

const UInt16 = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 65535 }))

/** Last-will message of a CONNECT [MQTT-3.1.2.5]. @since 0.1.0 @category packets */
export const Will = Schema.Struct({
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: QoS,
  retain: Schema.Boolean
})
/** @since 0.1.0 @category packets */
export type Will = typeof Will.Type

/**
 * CONNECT [MQTT-3.1]. `protocolLevel` 4 is MQTT 3.1.1 ("MQTT"); 3 is MQTT 3.1 ("MQIsdp"), accepted on decode.
 * @since 0.1.0
 * @category packets
 */
export const Connect = Schema.Struct({
  _tag: Schema.tag("Connect"),
  protocolLevel: Schema.Literals([3, 4]),
  clientId: Schema.String,
  cleanSession: Schema.Boolean,
  keepAlive: UInt16,
  username: Schema.optionalKey(Schema.String),
  password: Schema.optionalKey(Schema.Uint8Array),
  will: Schema.optionalKey(Will)
})
/** @since 0.1.0 @category packets */
export type Connect = typeof Connect.Type

/** CONNACK return codes [MQTT-3.2.2.3]. @since 0.1.0 @category packets */
export const ConnectReturnCode = Schema.Literals([0, 1, 2, 3, 4, 5])
/** @since 0.1.0 @category packets */
export type ConnectReturnCode = typeof ConnectReturnCode.Type

/** CONNACK [MQTT-3.2]. @since 0.1.0 @category packets */
export const Connack = Schema.Struct({
  _tag: Schema.tag("Connack"),
  sessionPresent: Schema.Boolean,
  returnCode: ConnectReturnCode
})
/** @since 0.1.0 @category packets */
export type Connack = typeof Connack.Type

/** PUBLISH [MQTT-3.3]. `packetId` is present exactly when `qos > 0` [MQTT-2.3.1-5]. @since 0.1.0 @category packets */
export const Publish = Schema.Struct({
  _tag: Schema.tag("Publish"),
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: QoS,
  retain: Schema.Boolean,
  dup: Schema.Boolean,
  packetId: Schema.optionalKey(PacketId)
})
/** @since 0.1.0 @category packets */
export type Publish = typeof Publish.Type

const ack = <Tag extends string>(tag: Tag) => Schema.Struct({ _tag: Schema.tag(tag), packetId: PacketId })

/** PUBACK [MQTT-3.4]. @since 0.1.0 @category packets */
export const Puback = ack("Puback")
/** @since 0.1.0 @category packets */
export type Puback = typeof Puback.Type
/** PUBREC [MQTT-3.5]. @since 0.1.0 @category packets */
export const Pubrec = ack("Pubrec")
/** @since 0.1.0 @category packets */
export type Pubrec = typeof Pubrec.Type
/** PUBREL [MQTT-3.6]. @since 0.1.0 @category packets */
export const Pubrel = ack("Pubrel")
/** @since 0.1.0 @category packets */
export type Pubrel = typeof Pubrel.Type
/** PUBCOMP [MQTT-3.7]. @since 0.1.0 @category packets */
export const Pubcomp = ack("Pubcomp")
/** @since 0.1.0 @category packets */
export type Pubcomp = typeof Pubcomp.Type

/** One topic filter of a SUBSCRIBE with its requested QoS [MQTT-3.8.3]. @since 0.1.0 @category packets */
export const SubscriptionRequest = Schema.Struct({ filter: Schema.String, qos: QoS })
/** @since 0.1.0 @category packets */
export type SubscriptionRequest = typeof SubscriptionRequest.Type

/** SUBSCRIBE [MQTT-3.8]; at least one filter [MQTT-3.8.3-3]. @since 0.1.0 @category packets */
export const Subscribe = Schema.Struct({
  _tag: Schema.tag("Subscribe"),
  packetId: PacketId,
  subscriptions: Schema.Array(SubscriptionRequest).check(Schema.isMinLength(1))
})
/** @since 0.1.0 @category packets */
export type Subscribe = typeof Subscribe.Type

/** SUBACK return codes: the granted QoS, or 0x80 for failure [MQTT-3.9.3]. @since 0.1.0 @category packets */
export const SubackReturnCode = Schema.Literals([0, 1, 2, 0x80])
/** @since 0.1.0 @category packets */
export type SubackReturnCode = typeof SubackReturnCode.Type

/** SUBACK [MQTT-3.9]. @since 0.1.0 @category packets */
export const Suback = Schema.Struct({
  _tag: Schema.tag("Suback"),
  packetId: PacketId,
  returnCodes: Schema.Array(SubackReturnCode)
})
/** @since 0.1.0 @category packets */
export type Suback = typeof Suback.Type

/** UNSUBSCRIBE [MQTT-3.10]; at least one filter [MQTT-3.10.3-2]. @since 0.1.0 @category packets */
export const Unsubscribe = Schema.Struct({
  _tag: Schema.tag("Unsubscribe"),
  packetId: PacketId,
  filters: Schema.Array(Schema.String).check(Schema.isMinLength(1))
})
/** @since 0.1.0 @category packets */
export type Unsubscribe = typeof Unsubscribe.Type

/** UNSUBACK [MQTT-3.11]. @since 0.1.0 @category packets */
export const Unsuback = ack("Unsuback")
/** @since 0.1.0 @category packets */
export type Unsuback = typeof Unsuback.Type

/** PINGREQ [MQTT-3.12]. @since 0.1.0 @category packets */
export const Pingreq = Schema.Struct({ _tag: Schema.tag("Pingreq") })
/** @since 0.1.0 @category packets */
export type Pingreq = typeof Pingreq.Type
/** PINGRESP [MQTT-3.13]. @since 0.1.0 @category packets */
export const Pingresp = Schema.Struct({ _tag: Schema.tag("Pingresp") })
/** @since 0.1.0 @category packets */
export type Pingresp = typeof Pingresp.Type
/** DISCONNECT [MQTT-3.14]. @since 0.1.0 @category packets */
export const Disconnect = Schema.Struct({ _tag: Schema.tag("Disconnect") })
/** @since 0.1.0 @category packets */
export type Disconnect = typeof Disconnect.Type

/** Any MQTT 3.1.1 control packet. @since 0.1.0 @category packets */
export const Packet = Schema.Union([
  Connect,
  Connack,
  Publish,
  Puback,
  Pubrec,
  Pubrel,
  Pubcomp,
  Subscribe,
  Suback,
  Unsubscribe,
  Unsuback,
  Pingreq,
  Pingresp,
  Disconnect
])
/** @since 0.1.0 @category packets */
export type Packet = typeof Packet.Type

/** The `_tag` of any packet. @since 0.1.0 @category packets */
export type PacketTag = Packet["_tag"]

/** Control packet type numbers, the high nibble of the fixed header [MQTT-2.2.1]. @since 0.1.0 @category packets */
export const PacketType = {
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14
} as const satisfies Record<PacketTag, number>
