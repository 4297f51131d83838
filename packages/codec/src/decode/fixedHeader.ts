/**
 * The fixed header [MQTT-2.2]: type and flags byte, then the remaining length varint. Flag rules
 * are checked here so that a streaming decoder rejects a bad packet before buffering its body.
 *
 * @since 0.1.0
 */
import type { DecodeError } from "../DecodeError.ts"
import { decodeError, packetName } from "./Reader.ts"

/**
 * A parsed fixed header: the packet occupies `headerLength + remainingLength` bytes.
 *
 * @since 0.1.0
 */
export interface FixedHeader {
  readonly type: number
  readonly flags: number
  readonly headerLength: number
  readonly remainingLength: number
}

/**
 * Largest remaining length, 0xFF 0xFF 0xFF 0x7F [MQTT-2.2.3].
 *
 * @since 0.1.0
 */
export const MAX_REMAINING_LENGTH = 268_435_455

/**
 * Largest possible packet: a 5-byte fixed header plus the largest remaining length.
 *
 * @since 0.1.0
 */
export const MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5

const PUBLISH = 3
const PUBREL = 6
const SUBSCRIBE = 8
const UNSUBSCRIBE = 10

const bits = (flags: number): string => `0b${flags.toString(2).padStart(4, "0")}`

/** Why the flags of a packet type are invalid, or undefined [MQTT-2.2.2-1][MQTT-2.2.2-2]. */
const flagsError = (type: number, flags: number): string | undefined => {
  if (type === PUBLISH) {
    const qos = (flags >> 1) & 3
    if (qos === 3) return "PUBLISH with QoS 3 [MQTT-3.3.1-4]"
    if (qos === 0 && (flags & 8) !== 0) return "PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]"
    return undefined
  }
  if (type === PUBREL || type === SUBSCRIBE || type === UNSUBSCRIBE) {
    // [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]
    return flags === 2 ? undefined : `${packetName(type)} with flags ${bits(flags)}, expected 0b0010 [MQTT-2.2.2-1]`
  }
  return flags === 0 ? undefined : `${packetName(type)} with flags ${bits(flags)}, expected 0b0000 [MQTT-2.2.2-1]`
}

/**
 * Reads the fixed header at `bytes[offset]`, looking no further than `end`. Returns `undefined` when
 * the bytes end inside the header (a streaming decoder waits for more; a one-shot decode fails).
 *
 * @since 0.1.0
 */
export const readFixedHeader = (
  bytes: Uint8Array,
  offset: number,
  end: number
): FixedHeader | DecodeError | undefined => {
  if (offset >= end) return undefined
  const first = bytes[offset] as number
  const type = first >> 4
  const flags = first & 0x0f
  if (type === 0 || type === 15) return decodeError(`reserved packet type ${type} [MQTT-2.2.1]`, type)
  const flagsIssue = flagsError(type, flags)
  if (flagsIssue !== undefined) return decodeError(flagsIssue, type)
  let value = 0
  let multiplier = 1
  for (let i = 1; i <= 4; i++) {
    if (offset + i >= end) return undefined
    const b = bytes[offset + i] as number
    value += (b & 0x7f) * multiplier
    if ((b & 0x80) === 0) {
      // A trailing zero byte adds nothing: the encoding is not the shortest one [MQTT-2.2.3].
      if (b === 0 && i > 1) {
        return decodeError(`${packetName(type)} remaining length is not minimally encoded [MQTT-2.2.3]`, type)
      }
      return { type, flags, headerLength: 1 + i, remainingLength: value }
    }
    multiplier *= 128
  }
  return decodeError(
    `${packetName(type)} remaining length is longer than 4 bytes (max ${MAX_REMAINING_LENGTH}) [MQTT-2.2.3]`,
    type
  )
}

/**
 * Fails when a packet of `size` bytes (header included) exceeds `maxPacketSize`.
 *
 * @since 0.1.0
 */
export const sizeError = (header: FixedHeader, maxPacketSize: number): DecodeError | undefined => {
  const size = header.headerLength + header.remainingLength
  return size > maxPacketSize
    ? decodeError(`${packetName(header.type)} of ${size} bytes exceeds maxPacketSize ${maxPacketSize}`, header.type)
    : undefined
}
