/**
 * One-shot decoding of a single complete packet. `decodePacket` is synchronous and returns the
 * error as a value, for hot paths; `decode` wraps it in an Effect.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { DecodeError } from "./DecodeError.ts"
import { MAX_PACKET_SIZE, readFixedHeader, sizeError } from "./internal/fixedHeader.ts"
import type { FixedHeader } from "./internal/fixedHeader.ts"
import { decodeError } from "./internal/Reader.ts"
import { rulesOf } from "./internal/rules.ts"
import type { Packet } from "./Packet.ts"
import { packetName } from "./PacketType.ts"
import type { ProtocolVersion } from "./packets/fields.ts"

/**
 * Options of the decoders.
 *
 * - `protocolVersion`: 4 (MQTT 3.1.1, the default; a CONNECT may also be MQTT 3.1) or 5 (MQTT 5.0).
 * - `maxPacketSize`: the largest packet accepted, in bytes including the fixed header. Defaults to
 *   the protocol maximum, 268,435,455 bytes of remaining length plus a 5-byte header [MQTT-2.1.4].
 *
 * @since 0.1.0
 * @category decoding
 */
export interface DecodeOptions<V extends ProtocolVersion = 4> {
  readonly maxPacketSize?: number
  readonly protocolVersion?: V
}

/**
 * The effective `maxPacketSize` of `options`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const maxPacketSizeOf = (options: DecodeOptions<ProtocolVersion> | undefined): number =>
  options?.maxPacketSize ?? MAX_PACKET_SIZE

/**
 * The effective `protocolVersion` of `options`: 4 unless it says 5.
 *
 * @since 0.3.0
 * @category decoding
 */
export const protocolVersionOf = <V extends ProtocolVersion>(options: { readonly protocolVersion?: V } | undefined): V =>
  // Without the option, V is its default, 4.
  (options?.protocolVersion ?? 4) as V

/**
 * Decodes `bytes[start, end)`, which must hold exactly one packet. Shared by {@link decodePacket} and
 * the streaming `Decoder`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRange = <V extends ProtocolVersion = 4>(
  bytes: Uint8Array,
  start: number,
  end: number,
  maxPacketSize: number,
  protocolVersion?: V
): Packet<V> | DecodeError => {
  const version: ProtocolVersion = protocolVersion ?? 4
  const header = readFixedHeader(bytes, start, end, version)
  if (header === undefined) return truncated(bytes, start, end, version)
  if (header instanceof DecodeError) return header
  const tooBig = sizeError(header, maxPacketSize)
  if (tooBig !== undefined) return tooBig
  const bodyStart = start + header.headerLength
  if (end - bodyStart !== header.remainingLength) return bodyLengthError(header, end - bodyStart, version)
  return readBody(header, bytes, bodyStart, end, version)
}

// The errors are worded apart from `decodeRange`, which stays small enough to inline what it calls.

/** The input ends inside the fixed header (or is empty). */
const truncated = (bytes: Uint8Array, start: number, end: number, version: ProtocolVersion): DecodeError => {
  const type = (bytes[start] as number) >> 4
  return start >= end
    ? decodeError(`empty input, expected a packet ${version === 5 ? "[MQTT-2.1.1]" : "[MQTT-2.2]"}`)
    : decodeError(`${packetName(type, version)} truncated inside its fixed header ${rulesOf(version).remainingLength}`, type)
}

/** The body is not as long as the remaining length says. */
const bodyLengthError = (header: FixedHeader, available: number, version: ProtocolVersion): DecodeError => {
  const relation = available < header.remainingLength ? "shorter" : "longer"
  return decodeError(
    `${header.row.name} body of ${available} bytes is ${relation} than its remaining length ${header.remainingLength} ${
      rulesOf(version).remainingLength
    }`,
    header.row.type
  )
}

/**
 * Decodes the body `bytes[start, end)` of the packet whose fixed header is `header`, with the codec
 * of its row. The result is a packet of `version`.
 *
 * @since 0.3.0
 * @category decoding
 */
export const readBody = <V extends ProtocolVersion>(
  header: FixedHeader,
  bytes: Uint8Array,
  start: number,
  end: number,
  version: ProtocolVersion
): Packet<V> | DecodeError =>
  // The codecs of `version` build packets of `version`.
  header.row.codec.read(bytes, start, end, header.flags, header.row, version) as Packet<V> | DecodeError

/**
 * Decodes `bytes`, which must hold exactly one complete packet: fixed header plus exactly
 * remaining-length bytes. Returns the packet, or a `DecodeError` citing the broken rule; never throws.
 * `options.protocolVersion` (4 by default) sets the version, and so the type of the result.
 *
 * Byte fields of the result (PUBLISH payload, will message, password, binary properties) are
 * `subarray` views of `bytes`, not copies: do not mutate `bytes` while the packet is in use.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodePacket = <V extends ProtocolVersion = 4>(
  bytes: Uint8Array,
  options?: DecodeOptions<V>
): Packet<V> | DecodeError => decodeRange(bytes, 0, bytes.length, maxPacketSizeOf(options), protocolVersionOf(options))

/**
 * {@link decodePacket} as an Effect that fails with the `DecodeError`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = <V extends ProtocolVersion = 4>(
  bytes: Uint8Array,
  options?: DecodeOptions<V>
): Effect.Effect<Packet<V>, DecodeError> =>
  Effect.suspend(() => {
    const result = decodePacket(bytes, options)
    return result instanceof DecodeError ? Effect.fail(result) : Effect.succeed(result)
  })
