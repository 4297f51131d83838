/**
 * CONNECT [MQTT-3.1]: the first packet of a client. Its protocol level says the version: 4 is
 * MQTT 3.1.1 ("MQTT"), 3 is MQTT 3.1 ("MQIsdp", accepted on decode as version 4), 5 is MQTT 5.0, where
 * properties follow the keep alive and will properties open the will, and a password no longer needs
 * a user name.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { packetCodec } from "../internal/PacketCodec.ts"
import type { PacketCodec } from "../internal/PacketCodec.ts"
import { propertiesError, propertiesSize, readProperties, withProperties, writeProperties } from "../internal/PropertyCodec.ts"
import { Reader } from "../internal/Reader.ts"
import { rulesOf } from "../internal/rules.ts"
import { binaryError, prefixed } from "../internal/senderRules.ts"
import { stringSize, writeBinary, writeString, writeU16 } from "../internal/Writer.ts"
import { mqttStringError } from "../MqttString.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { topicNameError, topicNameShapeError } from "../Topic.ts"
import { QoS, UInt16 } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * Last-will message of a CONNECT in MQTT 3.1.1 [MQTT-3.1.2.5].
 *
 * @since 0.1.0
 * @category packets
 */
export const Will = Schema.Struct({
  topic: Schema.String,
  payload: Schema.Uint8Array,
  qos: QoS,
  retain: Schema.Boolean
})

/**
 * Last-will message of a CONNECT in MQTT 5.0, with its will properties [MQTT-3.1.3.2].
 *
 * @since 0.3.0
 * @category packets
 */
export const WillV5 = Schema.Struct({ ...Will.fields, properties: Schema.optionalKey(PropertiesSchema.Will) })

/**
 * A will of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Will<V extends ProtocolVersion = 4> = V extends 5 ? typeof WillV5.Type : typeof Will.Type

/**
 * CONNECT in MQTT 3.1.1 [MQTT-3.1]. `protocolLevel` 4 is MQTT 3.1.1 ("MQTT"); 3 is MQTT 3.1
 * ("MQIsdp"), accepted on decode.
 *
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

/**
 * CONNECT in MQTT 5.0 [MQTT-3.1]: protocol level 5, `properties`, and a will with properties.
 * `cleanSession` is the bit MQTT 5.0 calls Clean Start.
 *
 * @since 0.3.0
 * @category packets
 */
export const ConnectV5 = Schema.Struct({
  ...Connect.fields,
  protocolLevel: Schema.Literal(5),
  will: Schema.optionalKey(WillV5),
  properties: Schema.optionalKey(PropertiesSchema.Connect)
})

/**
 * A CONNECT of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Connect<V extends ProtocolVersion = 4> = V extends 5 ? typeof ConnectV5.Type : typeof Connect.Type

type AnyConnect = Connect<ProtocolVersion>
type AnyWill = Will<ProtocolVersion>

const propertiesOf = (p: AnyConnect): PropertiesOf["Connect"] | undefined => ("properties" in p ? p.properties : undefined)
const willPropertiesOf = (w: AnyWill): PropertiesOf["Will"] | undefined => ("properties" in w ? w.properties : undefined)

/** Why the protocol name and level are not those of `version` [MQTT-3.1.2-1][MQTT-3.1.2-2]. */
const protocolError = (name: string, level: number, version: ProtocolVersion): string | undefined => {
  if (version === 5) {
    return name === "MQTT" && level === 5
      ? undefined
      : `with protocol name ${JSON.stringify(name)} and level ${level}, expected "MQTT" level 5 [MQTT-3.1.2-1][MQTT-3.1.2-2]`
  }
  return (name === "MQTT" && level === 4) || (name === "MQIsdp" && level === 3)
    ? undefined
    : `with protocol name ${JSON.stringify(name)} and level ${level}, expected "MQTT" level 4 or "MQIsdp" level 3 [MQTT-3.1.2-1][MQTT-3.1.2-2]`
}

/** Why the will bits of the connect flags are inconsistent, or `undefined`. */
const willFlagsError = (flags: number, version: ProtocolVersion): string | undefined => {
  const willQos = (flags >> 3) & 3
  const willRetain = (flags & 0x20) !== 0
  if ((flags & 0x04) === 0) {
    if (willQos !== 0) return `with will QoS set but no will flag ${version === 5 ? "[MQTT-3.1.2-11]" : "[MQTT-3.1.2-11][MQTT-3.1.2-13]"}`
    if (willRetain) return `with will retain set but no will flag ${version === 5 ? "[MQTT-3.1.2-13]" : "[MQTT-3.1.2-11][MQTT-3.1.2-15]"}`
  } else if (willQos === 3) {
    return `with will QoS 3 ${version === 5 ? "[MQTT-3.1.2-12]" : "[MQTT-3.1.2-14]"}`
  }
  return undefined
}

/** Authentication Data without an Authentication Method is a Protocol Error [MQTT-3.1.2.11.10]. */
const authenticationError = (properties: PropertiesOf["Connect"] | undefined): string | undefined =>
  properties?.authenticationData !== undefined && properties.authenticationMethod === undefined
    ? "with Authentication Data but no Authentication Method [MQTT-3.1.2.11.10]"
    : undefined

/** Reads the will (its properties in version 5, topic and message) of `r`. */
const readWill = (r: Reader, flags: number): AnyWill | DecodeError => {
  const properties = readProperties(r, "Will")
  if (properties instanceof DecodeError) return properties
  const topic = r.string("will topic")
  if (typeof topic !== "string") return topic
  // The will topic is a topic name [MQTT-3.1.3-11]: no wildcards, not empty [MQTT-4.7] (the string
  // rules were checked on the bytes).
  const topicIssue = topicNameShapeError(topic)
  if (topicIssue !== undefined) return r.fail(`with invalid will topic: ${topicIssue}`)
  const payload = r.binary("will message")
  if (!(payload instanceof Uint8Array)) return payload
  const will = { topic, payload, qos: ((flags >> 3) & 3) as QoS, retain: (flags & 0x20) !== 0 }
  return withProperties(will, properties)
}

/** The codec of CONNECT, for the table of packet types. */
export const codec: PacketCodec<AnyConnect> = packetCodec({
  size: (p, version) => {
    // Protocol name + level + flags + keep alive: "MQTT" or "MQIsdp" [MQTT-3.1.2.1].
    let n = p.protocolLevel === 3 ? 12 : 10
    if (version === 5) n += propertiesSize(propertiesOf(p), "Connect")
    n += stringSize(p.clientId)
    const will = p.will
    if (will !== undefined) {
      if (version === 5) n += propertiesSize(willPropertiesOf(will), "Will")
      n += stringSize(will.topic) + 2 + will.payload.length
    }
    if (p.username !== undefined) n += stringSize(p.username)
    if (p.password !== undefined) n += 2 + p.password.length
    return n
  },
  write: (out, pos, p, version) => {
    pos = writeString(out, pos, p.protocolLevel === 3 ? "MQIsdp" : "MQTT")
    out[pos++] = p.protocolLevel
    const will = p.will
    let flags = p.cleanSession ? 0x02 : 0
    if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0)
    if (p.password !== undefined) flags |= 0x40
    if (p.username !== undefined) flags |= 0x80
    out[pos++] = flags
    pos = writeU16(out, pos, p.keepAlive)
    if (version === 5) pos = writeProperties(out, pos, propertiesOf(p), "Connect")
    // Payload order is fixed: client id, will properties, will topic, will message, user name,
    // password [MQTT-3.1.3-1].
    pos = writeString(out, pos, p.clientId)
    if (will !== undefined) {
      if (version === 5) pos = writeProperties(out, pos, willPropertiesOf(will), "Will")
      pos = writeString(out, pos, will.topic)
      pos = writeBinary(out, pos, will.payload)
    }
    if (p.username !== undefined) pos = writeString(out, pos, p.username)
    if (p.password !== undefined) writeBinary(out, pos, p.password)
  },
  read: (bytes, start, end, _flags, kind, version) => {
    const r = new Reader(bytes, start, end, kind, version)
    const name = r.string("protocol name")
    if (typeof name !== "string") return name
    const level = r.u8()
    if (level < 0) return r.pastEnd("protocol level", 1)
    const protocolIssue = protocolError(name, level, version)
    if (protocolIssue !== undefined) return r.fail(protocolIssue)
    const flags = r.u8()
    if (flags < 0) return r.pastEnd("connect flags", 1)
    if ((flags & 0x01) !== 0) return r.fail("with reserved connect flag bit 0 set [MQTT-3.1.2-3]")
    const willIssue = willFlagsError(flags, version)
    if (willIssue !== undefined) return r.fail(willIssue)
    const hasPassword = (flags & 0x40) !== 0
    const hasUsername = (flags & 0x80) !== 0
    // MQTT 3.1.1 only: MQTT 5.0 allows a password without a user name.
    if (version === 4 && hasPassword && !hasUsername) return r.fail("with a password but no user name [MQTT-3.1.2-22]")
    const keepAlive = r.u16()
    if (keepAlive < 0) return r.pastEnd("keep alive", 2)
    const properties = readProperties(r, "Connect")
    if (properties instanceof DecodeError) return properties
    const authIssue = authenticationError(properties)
    if (authIssue !== undefined) return r.fail(authIssue)
    const clientId = r.string("client identifier")
    if (typeof clientId !== "string") return clientId
    const packet: { -readonly [K in keyof Connect<5>]: Connect<5>[K] } | { -readonly [K in keyof Connect]: Connect[K] } =
      version === 5
        ? { _tag: "Connect", protocolLevel: 5, clientId, cleanSession: (flags & 0x02) !== 0, keepAlive }
        : { _tag: "Connect", protocolLevel: level === 4 ? 4 : 3, clientId, cleanSession: (flags & 0x02) !== 0, keepAlive }
    if ((flags & 0x04) !== 0) {
      const will = readWill(r, flags)
      if (will instanceof DecodeError) return will
      packet.will = will
    }
    if (hasUsername) {
      const username = r.string("user name")
      if (typeof username !== "string") return username
      packet.username = username
    }
    if (hasPassword) {
      const password = r.binary("password")
      if (!(password instanceof Uint8Array)) return password
      packet.password = password
    }
    if (properties !== undefined && packet.protocolLevel === 5) packet.properties = properties
    return r.done(packet)
  },
  error: (p, version) => {
    const rules = rulesOf(version)
    if (version === 4 && p.password !== undefined && p.username === undefined) {
      return "CONNECT with a password but no user name [MQTT-3.1.2-22]"
    }
    const e = mqttStringError(p.clientId, "CONNECT client identifier")
    if (e !== undefined) return e
    const will = p.will
    if (will !== undefined) {
      const w = mqttStringError(will.topic, "CONNECT will topic") ??
        prefixed("CONNECT with invalid will topic: ", topicNameError(will.topic)) ??
        binaryError("CONNECT will message", will.payload, rules) ??
        (version === 5 ? propertiesError(willPropertiesOf(will), "Will", "CONNECT will") : undefined)
      if (w !== undefined) return w
    }
    const properties = version === 5 ? propertiesOf(p) : undefined
    return (p.username === undefined ? undefined : mqttStringError(p.username, "CONNECT user name")) ??
      (p.password === undefined ? undefined : binaryError("CONNECT password", p.password, rules)) ??
      prefixed("CONNECT ", authenticationError(properties)) ??
      propertiesError(properties, "Connect", "CONNECT")
  }
})
