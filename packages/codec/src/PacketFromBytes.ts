/**
 * `PacketFromBytes`: a Schema transformation between the bytes of one packet and the `Packet` it
 * encodes. Decoding runs the strict decoder; encoding first checks the wire rules that the `Packet`
 * models alone do not express (see {@link packetError}), so invalid packets never reach the wire.
 *
 * @since 0.1.0
 */
import { Effect, Schema, SchemaGetter, SchemaIssue } from "effect"
import { DecodeError } from "./DecodeError.ts"
import { decodePacket } from "./decode.ts"
import { MAX_REMAINING_LENGTH } from "./decode/fixedHeader.ts"
import { encode, encodedLength } from "./encode.ts"
import { mqttStringError } from "./MqttString.ts"
import { Packet } from "./Packet.ts"
import { topicFilterError, topicNameError } from "./Topic.ts"

const MAX_FIELD = 65535

/** `reason` wrapped in a prefix and suffix, or undefined when there is no reason. */
const prefixed = (prefix: string, reason: string | undefined, suffix = ""): string | undefined =>
  reason === undefined ? undefined : prefix + reason + suffix

const binaryError = (field: string, bytes: Uint8Array): string | undefined =>
  bytes.length > MAX_FIELD ? `${field} is longer than 65535 bytes [MQTT-1.5.3]` : undefined

const fieldsError = (p: Packet): string | undefined => {
  switch (p._tag) {
    case "Connect": {
      if (p.password !== undefined && p.username === undefined) {
        return "CONNECT with a password but no user name [MQTT-3.1.2-22]"
      }
      const e = mqttStringError(p.clientId, "CONNECT client identifier")
      if (e !== undefined) return e
      if (p.will !== undefined) {
        const w = mqttStringError(p.will.topic, "CONNECT will topic") ??
          prefixed("CONNECT with invalid will topic: ", topicNameError(p.will.topic)) ??
          binaryError("CONNECT will message", p.will.payload)
        if (w !== undefined) return w
      }
      return (p.username === undefined ? undefined : mqttStringError(p.username, "CONNECT user name")) ??
        (p.password === undefined ? undefined : binaryError("CONNECT password", p.password))
    }
    case "Connack":
      return p.sessionPresent && p.returnCode !== 0
        ? `CONNACK with session present and non-zero return code ${p.returnCode} [MQTT-3.2.2-4]`
        : undefined
    case "Publish": {
      if (p.qos === 0 && p.packetId !== undefined) return "PUBLISH with QoS 0 and a packet identifier [MQTT-2.3.1-5]"
      if (p.qos > 0 && p.packetId === undefined) return `PUBLISH with QoS ${p.qos} and no packet identifier [MQTT-2.3.1-1]`
      if (p.qos === 0 && p.dup) return "PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]"
      return mqttStringError(p.topic, "PUBLISH topic name") ??
        prefixed("PUBLISH with invalid topic name: ", topicNameError(p.topic), " [MQTT-3.3.2-2]")
    }
    case "Subscribe":
      for (const s of p.subscriptions) {
        const e = filterError("SUBSCRIBE", s.filter)
        if (e !== undefined) return e
      }
      return undefined
    case "Unsubscribe":
      for (const f of p.filters) {
        const e = filterError("UNSUBSCRIBE", f)
        if (e !== undefined) return e
      }
      return undefined
    default:
      return undefined
  }
}

const filterError = (name: string, filter: string): string | undefined => {
  const e = mqttStringError(filter, `${name} topic filter`)
  return e ?? prefixed(`${name} with invalid topic filter: `, topicFilterError(filter))
}

/**
 * Why the schema-valid `packet` cannot be sent, or `undefined` when `encode` may encode it: strings
 * must be well-formed without U+0000 and at most 65535 UTF-8 bytes [MQTT-1.5.3]; PUBLISH carries a
 * packet id exactly when QoS > 0 [MQTT-2.3.1-1][MQTT-2.3.1-5], no DUP at QoS 0 [MQTT-3.3.1-2] and a
 * valid topic name [MQTT-3.3.2-2]; filters must be valid [MQTT-4.7]; CONNECT has no password
 * without a user name [MQTT-3.1.2-22]; the packet fits the remaining length limit [MQTT-2.2.3].
 *
 * @since 0.1.0
 * @category decoding
 */
export const packetError = (packet: Packet): string | undefined => {
  const e = fieldsError(packet)
  if (e !== undefined) return e
  const size = encodedLength(packet)
  // Past the limit the header is 5 bytes, so the remaining length is size - 5.
  return size - 5 > MAX_REMAINING_LENGTH
    ? `packet of ${size} bytes exceeds the maximum remaining length ${MAX_REMAINING_LENGTH} [MQTT-2.2.3]`
    : undefined
}

/**
 * The bytes of one complete packet, decoded strictly to a `Packet` and encoded after validation.
 *
 * @example
 * const packet = yield* Schema.decodeUnknownEffect(PacketFromBytes)(new Uint8Array([0xc0, 0x00]))
 * // { _tag: "Pingreq" }
 *
 * @since 0.1.0
 * @category decoding
 */
export const PacketFromBytes = Schema.Uint8Array.pipe(
  Schema.decodeTo(Packet, {
    decode: SchemaGetter.transformEffect((bytes: Uint8Array) => {
      const result = decodePacket(bytes)
      return result instanceof DecodeError
        ? Effect.fail(new SchemaIssue.InvalidValue({ message: result.message }, bytes))
        : Effect.succeed(result)
    }),
    encode: SchemaGetter.transformEffect((packet: Packet) => {
      const issue = packetError(packet)
      return issue === undefined
        ? Effect.succeed(encode(packet))
        : Effect.fail(new SchemaIssue.InvalidValue({ message: issue }, packet))
    })
  })
)
