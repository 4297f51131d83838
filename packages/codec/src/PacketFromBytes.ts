/**
 * `packetFromBytes(version)`: a Schema transformation between the bytes of one packet and the packet
 * it encodes in that protocol version; `PacketFromBytes` is the one of MQTT 3.1.1. Decoding runs the
 * strict decoder; encoding first checks the wire rules that the models alone do not express (see
 * {@link packetError}), so invalid packets never reach the wire.
 *
 * @since 0.1.0
 */
import { Effect, Schema, SchemaGetter, SchemaIssue } from "effect"
import { DecodeError } from "./DecodeError.ts"
import { decodePacket } from "./decode.ts"
import { encode, encodedLength } from "./encode.ts"
import { MAX_REMAINING_LENGTH } from "./internal/fixedHeader.ts"
import { rulesOf } from "./internal/rules.ts"
import { Packet, PacketV5 } from "./Packet.ts"
import { rowOf } from "./PacketType.ts"
import type { ProtocolVersion } from "./packets/fields.ts"

/**
 * Why the schema-valid `packet` cannot be sent in `protocolVersion` (4 by default), or `undefined`
 * when `encode` may encode it: strings must be well-formed without U+0000 and at most 65535 UTF-8
 * bytes [MQTT-1.5.4]; PUBLISH carries a packet id exactly when QoS > 0 [MQTT-2.2.1-2][MQTT-2.2.1-3],
 * no DUP at QoS 0 [MQTT-3.3.1-2] and a valid topic name [MQTT-3.3.2-2] (in MQTT 5.0 an empty one
 * with a Topic Alias); filters must be valid [MQTT-4.7]; in MQTT 3.1.1 CONNECT has no password without
 * a user name [MQTT-3.1.2-22]; in MQTT 5.0 the property strings and binary data follow the same rules,
 * No Local is not set on a shared subscription [MQTT-3.8.3-4], an AUTH names its Authentication
 * Method [MQTT-3.15.2.2.2]; the packet fits the remaining length limit [MQTT-2.1.4].
 *
 * @since 0.1.0
 * @category decoding
 */
export const packetError = <V extends ProtocolVersion = 4>(packet: Packet<V>, protocolVersion?: V): string | undefined => {
  const p: Packet<ProtocolVersion> = packet
  const version: ProtocolVersion = protocolVersion ?? 4
  const e = rowOf(p._tag).codec.error(p, version)
  if (e !== undefined) return e
  const size = encodedLength<ProtocolVersion>(p, { protocolVersion: version })
  // Past the limit the header is 5 bytes, so the remaining length is size - 5.
  return size - 5 > MAX_REMAINING_LENGTH
    ? `packet of ${size} bytes exceeds the maximum remaining length ${MAX_REMAINING_LENGTH} ${rulesOf(version).remainingLength}`
    : undefined
}

const fromBytes = <S extends Schema.Codec<Packet<V>, Packet<V>>, V extends ProtocolVersion>(target: S, version: V) =>
  Schema.Uint8Array.pipe(
    Schema.decodeTo(target, {
      decode: SchemaGetter.transformEffect((bytes: Uint8Array) => {
        const result = decodePacket(bytes, { protocolVersion: version })
        return result instanceof DecodeError
          ? Effect.fail(new SchemaIssue.InvalidValue({ message: result.message }, bytes))
          : Effect.succeed(result)
      }),
      encode: SchemaGetter.transformEffect((packet: Packet<V>) => {
        const issue = packetError(packet, version)
        return issue === undefined
          ? Effect.succeed(encode(packet, { protocolVersion: version }))
          : Effect.fail(new SchemaIssue.InvalidValue({ message: issue }, packet))
      })
    })
  )

/**
 * The bytes of one complete MQTT 3.1.1 packet, decoded strictly to a `Packet` and encoded after
 * validation: `packetFromBytes(4)`.
 *
 * @example
 * const packet = yield* Schema.decodeUnknownEffect(PacketFromBytes)(new Uint8Array([0xc0, 0x00]))
 * // { _tag: "Pingreq" }
 *
 * @since 0.1.0
 * @category decoding
 */
export const PacketFromBytes = fromBytes(Packet, 4)

const PacketFromBytesV5 = fromBytes(PacketV5, 5)

/**
 * `PacketFromBytes` for protocol version `protocolVersion`: the bytes of one complete packet of that
 * version, decoded strictly to a `Packet<V>` and encoded after validation.
 *
 * @since 0.3.0
 * @category decoding
 */
export function packetFromBytes(protocolVersion: 4): typeof PacketFromBytes
export function packetFromBytes(protocolVersion: 5): typeof PacketFromBytesV5
export function packetFromBytes(protocolVersion: ProtocolVersion): typeof PacketFromBytes | typeof PacketFromBytesV5 {
  return protocolVersion === 5 ? PacketFromBytesV5 : PacketFromBytes
}
