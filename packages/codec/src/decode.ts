/**
 * One-shot decoding of a single complete packet. `decodePacket` is synchronous and returns the
 * error as a value, for hot paths; `decode` wraps it in an Effect.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { DecodeError } from "./DecodeError.ts"
import { readBody } from "./decode/body.ts"
import { MAX_PACKET_SIZE, readFixedHeader, sizeError } from "./decode/fixedHeader.ts"
import { decodeError, packetName } from "./decode/Reader.ts"
import type { Packet } from "./Packet.ts"

/**
 * Options of the decoders.
 *
 * - `maxPacketSize`: the largest packet accepted, in bytes including the fixed header. Defaults to
 *   the protocol maximum, 268,435,455 bytes of remaining length plus a 5-byte header [MQTT-2.2.3].
 *
 * @since 0.1.0
 * @category decoding
 */
export interface DecodeOptions {
  readonly maxPacketSize?: number
}

/**
 * The effective `maxPacketSize` of `options`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const maxPacketSizeOf = (options: DecodeOptions | undefined): number =>
  options?.maxPacketSize ?? MAX_PACKET_SIZE

/**
 * Decodes `bytes[start, end)`, which must hold exactly one packet. Shared by {@link decodePacket} and
 * the streaming `Decoder`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRange = (
  bytes: Uint8Array,
  start: number,
  end: number,
  maxPacketSize: number
): Packet | DecodeError => {
  const header = readFixedHeader(bytes, start, end)
  if (header === undefined) {
    return start >= end
      ? decodeError("empty input, expected a packet [MQTT-2.2]")
      : decodeError(
        `${packetName((bytes[start] as number) >> 4)} truncated inside its fixed header [MQTT-2.2.3]`,
        (bytes[start] as number) >> 4
      )
  }
  if (header instanceof DecodeError) return header
  const tooBig = sizeError(header, maxPacketSize)
  if (tooBig !== undefined) return tooBig
  const bodyStart = start + header.headerLength
  const available = end - bodyStart
  if (available !== header.remainingLength) {
    const relation = available < header.remainingLength ? "shorter" : "longer"
    return decodeError(
      `${packetName(header.type)} body of ${available} bytes is ${relation} than its remaining length ${header.remainingLength} [MQTT-2.2.3]`,
      header.type
    )
  }
  return readBody(header.type, header.flags, bytes, bodyStart, end)
}

/**
 * Decodes `bytes`, which must hold exactly one complete packet: fixed header plus exactly
 * remaining-length bytes. Returns the packet, or a `DecodeError` citing the broken rule; never throws.
 *
 * Byte fields of the result (PUBLISH payload, will message, password) are `subarray` views of
 * `bytes`, not copies: do not mutate `bytes` while the packet is in use.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodePacket = (bytes: Uint8Array, options?: DecodeOptions): Packet | DecodeError =>
  decodeRange(bytes, 0, bytes.length, maxPacketSizeOf(options))

/**
 * {@link decodePacket} as an Effect that fails with the `DecodeError`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (bytes: Uint8Array, options?: DecodeOptions): Effect.Effect<Packet, DecodeError> =>
  Effect.suspend(() => {
    const result = decodePacket(bytes, options)
    return result instanceof DecodeError ? Effect.fail(result) : Effect.succeed(result)
  })
