/**
 * PUBLISH [MQTT-3.3]: an application message. In MQTT 5.0 the packet identifier is followed by
 * properties, and the topic name may be empty when a Topic Alias stands for it.
 *
 * The payload is never inspected. A Payload Format Indicator of 1 says the payload is UTF-8; the
 * standard lets the receiver check it and answer 0x99 (Payload format invalid) [MQTT-3.3.2.3.2]. The
 * codec does not: a malformed packet ends the connection, and a payload is not malformed framing.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { packetCodec } from "../internal/PacketCodec.ts"
import type { PacketCodec, PacketKind } from "../internal/PacketCodec.ts"
import { propertiesError, propertiesSize, readProperties, writeProperties } from "../internal/PropertyCodec.ts"
import { Reader } from "../internal/Reader.ts"
import { rulesOf } from "../internal/rules.ts"
import { prefixed } from "../internal/senderRules.ts"
import { stringSize, writeString, writeU16 } from "../internal/Writer.ts"
import { mqttStringError } from "../MqttString.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { topicNameShapeError } from "../Topic.ts"
import { PacketId, QoS } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * PUBLISH in MQTT 3.1.1 [MQTT-3.3]. `packetId` is present exactly when `qos > 0` [MQTT-2.2.1-2].
 *
 * @since 0.1.0
 * @category packets
 */
export const Publish = Schema.Struct({
  _tag: Schema.tag("Publish"),
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: QoS,
  retain: Schema.Boolean,
  dup: Schema.Boolean,
  packetId: Schema.optionalKey(PacketId)
})

/**
 * PUBLISH in MQTT 5.0 [MQTT-3.3]: with `properties`; `topic` may be empty when
 * `properties.topicAlias` is set.
 *
 * @since 0.3.0
 * @category packets
 */
export const PublishV5 = Schema.Struct({ ...Publish.fields, properties: Schema.optionalKey(PropertiesSchema.Publish) })

/**
 * A PUBLISH of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Publish<V extends ProtocolVersion = 4> = V extends 5 ? typeof PublishV5.Type : typeof Publish.Type

type AnyPublish = Publish<ProtocolVersion>

const propertiesOf = (p: AnyPublish): PropertiesOf["Publish"] | undefined => ("properties" in p ? p.properties : undefined)

/** Why `topic` is not the topic name of a PUBLISH, or `undefined`. */
const topicError = (topic: string, version: ProtocolVersion, properties: PropertiesOf["Publish"] | undefined): string | undefined =>
  // In MQTT 5.0 an empty topic name stands for the topic of a Topic Alias [MQTT-3.3.2.1].
  version === 5 && topic === "" && properties?.topicAlias !== undefined ? undefined : topicNameShapeError(topic)

/** Reads an MQTT 3.1.1 PUBLISH (apart from version 5, so that the hot path stays small). */
const read4 = (bytes: Uint8Array, start: number, end: number, flags: number, kind: PacketKind): Publish | DecodeError => {
  const r = new Reader(bytes, start, end, kind, 4)
  const topic = r.string("topic name")
  if (typeof topic !== "string") return topic
  // Wildcards and empty topics are not topic names [MQTT-3.3.2-2]; the string rules were checked on the bytes.
  const topicIssue = topicNameShapeError(topic)
  if (topicIssue !== undefined) return invalidTopic(r, topicIssue)
  const qos = ((flags >> 1) & 3) as QoS
  const retain = (flags & 1) !== 0
  const dup = (flags & 8) !== 0
  // The packet identifier is present only at QoS 1 and 2 [MQTT-2.2.1-2].
  if (qos === 0) return { _tag: "Publish", topic, payload: bytes.subarray(r.pos, end), qos, retain, dup }
  const packetId = r.packetId()
  if (typeof packetId !== "number") return packetId
  return { _tag: "Publish", topic, payload: bytes.subarray(r.pos, end), qos, retain, dup, packetId }
}

const invalidTopic = (r: Reader, issue: string): DecodeError => r.fail(`with invalid topic name: ${issue} [MQTT-3.3.2-2]`)

/** Reads an MQTT 5.0 PUBLISH: properties after the packet identifier, and maybe a Topic Alias for the topic. */
const read5 = (bytes: Uint8Array, start: number, end: number, flags: number, kind: PacketKind): Publish<5> | DecodeError => {
  const r = new Reader(bytes, start, end, kind, 5)
  const topic = r.string("topic name")
  if (typeof topic !== "string") return topic
  const qos = ((flags >> 1) & 3) as QoS
  const packetId = qos > 0 ? r.packetId() : 0
  if (typeof packetId !== "number") return packetId
  const properties = readProperties(r, "Publish")
  if (properties instanceof DecodeError) return properties
  const topicIssue = topicError(topic, 5, properties)
  if (topicIssue !== undefined) {
    return topic === "" ? r.fail("with an empty topic name and no Topic Alias [MQTT-3.3.2.1]") : invalidTopic(r, topicIssue)
  }
  const packet: {
    -readonly [K in keyof Publish<5>]: Publish<5>[K]
  } = { _tag: "Publish", topic, payload: bytes.subarray(r.pos, end), qos, retain: (flags & 1) !== 0, dup: (flags & 8) !== 0 }
  if (qos > 0) packet.packetId = packetId
  if (properties !== undefined) packet.properties = properties
  return packet
}

/** The codec of PUBLISH, for the table of packet types. */
export const codec: PacketCodec<AnyPublish> = packetCodec({
  flags: (p) => (p.dup ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0),
  flagsError: (flags) => {
    const qos = (flags >> 1) & 3
    if (qos === 3) return "PUBLISH with QoS 3 [MQTT-3.3.1-4]"
    if (qos === 0 && (flags & 8) !== 0) return "PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]"
    return undefined
  },
  size: (p, version) =>
    stringSize(p.topic) + (p.qos > 0 ? 2 : 0) + p.payload.length +
    (version === 5 ? propertiesSize(propertiesOf(p), "Publish") : 0),
  write: (out, pos, p, version) => {
    pos = writeString(out, pos, p.topic)
    if (p.qos > 0) pos = writeU16(out, pos, p.packetId ?? 0)
    if (version === 5) pos = writeProperties(out, pos, propertiesOf(p), "Publish")
    out.set(p.payload, pos)
  },
  read: (bytes, start, end, flags, kind, version) =>
    version === 4 ? read4(bytes, start, end, flags, kind) : read5(bytes, start, end, flags, kind),
  error: (p, version) => {
    const rules = rulesOf(version)
    if (p.qos === 0 && p.packetId !== undefined) return `PUBLISH with QoS 0 and a packet identifier ${rules.noPacketIdAtQoS0}`
    if (p.qos > 0 && p.packetId === undefined) return `PUBLISH with QoS ${p.qos} and no packet identifier ${rules.packetId}`
    if (p.qos === 0 && p.dup) return "PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]"
    const properties = version === 5 ? propertiesOf(p) : undefined
    return mqttStringError(p.topic, "PUBLISH topic name") ??
      prefixed("PUBLISH with invalid topic name: ", topicError(p.topic, version, properties), " [MQTT-3.3.2-2]") ??
      propertiesError(properties, "Publish", "PUBLISH")
  }
})
