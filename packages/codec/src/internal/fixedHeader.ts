/**
 * The fixed header [MQTT-2.1.1]: type and flags byte, then the remaining length, a Variable Byte
 * Integer. Type and flag rules are checked here, through the table of packet types, so that a
 * streaming decoder rejects a bad packet before buffering its body.
 *
 * @since 0.1.0
 */
import type { DecodeError } from "../DecodeError.ts"
import type { Packet } from "../Packet.ts"
import type { ProtocolVersion } from "../packets/fields.ts"
import { byType4, byType5 } from "../PacketType.ts"
import type { PacketRow } from "../PacketType.ts"
import { decodeError } from "./Reader.ts"
import { rulesOf } from "./rules.ts"
import { MAX_VARINT, readVarint, VARINT_INCOMPLETE, VARINT_NOT_MINIMAL } from "./varint.ts"

/**
 * A parsed fixed header: the packet occupies `headerLength + remainingLength` bytes; `row` is its
 * line of the table of packet types.
 *
 * @since 0.1.0
 */
export interface FixedHeader {
  readonly row: PacketRow<Packet<ProtocolVersion>>
  readonly flags: number
  readonly headerLength: number
  readonly remainingLength: number
}

/**
 * Largest remaining length, 0xFF 0xFF 0xFF 0x7F [MQTT-2.1.4].
 *
 * @since 0.1.0
 */
export const MAX_REMAINING_LENGTH = MAX_VARINT

/**
 * Largest possible packet: a 5-byte fixed header plus the largest remaining length.
 *
 * @since 0.1.0
 */
export const MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5

type Row = PacketRow<Packet<ProtocolVersion>>

const bits = (flags: number): string => `0b${flags.toString(2).padStart(4, "0")}`

/** Why the flags of a packet are invalid (`validFlags` said they are), or undefined [MQTT-2.1.3-1]. */
const flagsError = (row: Row, flags: number, version: ProtocolVersion): string | undefined => {
  if (row.flags === undefined) return row.codec.flagsError?.(flags)
  // Reserved flags have the value the table lists, e.g. 0b0010 for PUBREL [MQTT-3.6.1-1].
  return flags === row.flags
    ? undefined
    : `${row.name} with flags ${bits(flags)}, expected ${bits(row.flags)} ${rulesOf(version).flags}`
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
  end: number,
  version: ProtocolVersion
): FixedHeader | DecodeError | undefined => {
  if (offset >= end) return undefined
  const first = bytes[offset] as number
  const type = first >> 4
  const flags = first & 0x0f
  const row = (version === 5 ? byType5 : byType4)[type]
  // Type 0 is reserved, and so is 15 (AUTH) before MQTT 5.0; the flags are the table's.
  if (row === undefined || ((row.validFlags >> flags) & 1) === 0) return typeError(row, type, flags, version)
  // Most packets are shorter than 128 bytes: a one-byte remaining length.
  if (offset + 1 < end) {
    const b = bytes[offset + 1] as number
    if (b < 0x80) return { row, flags, headerLength: 2, remainingLength: b }
  }
  const length = readVarint(bytes, offset + 1, end)
  if (length >= 0) return { row, flags, headerLength: 1 + (length & 7), remainingLength: length >> 3 }
  return length === VARINT_INCOMPLETE ? undefined : lengthError(row, length, version)
}

// The errors are worded apart from `readFixedHeader`, which stays small enough to be inlined.

/** A reserved packet type, or flags the table refuses. */
const typeError = (row: Row | undefined, type: number, flags: number, version: ProtocolVersion): DecodeError =>
  row === undefined
    ? decodeError(`reserved packet type ${type} ${rulesOf(version).packetType}`, type)
    : decodeError(flagsError(row, flags, version) ?? "", type)

/** A remaining length that is not minimally encoded, or longer than 4 bytes. */
const lengthError = (row: Row, length: number, version: ProtocolVersion): DecodeError => {
  const rules = rulesOf(version)
  return decodeError(
    length === VARINT_NOT_MINIMAL
      ? `${row.name} remaining length is not minimally encoded ${rules.minimalVarint}`
      : `${row.name} remaining length is longer than 4 bytes (max ${MAX_REMAINING_LENGTH}) ${rules.remainingLength}`,
    row.type
  )
}

/**
 * Fails when a packet of `size` bytes (header included) exceeds `maxPacketSize`.
 *
 * @since 0.1.0
 */
export const sizeError = (header: FixedHeader, maxPacketSize: number): DecodeError | undefined =>
  header.headerLength + header.remainingLength > maxPacketSize ? tooBig(header, maxPacketSize) : undefined

const tooBig = (header: FixedHeader, maxPacketSize: number): DecodeError =>
  decodeError(
    `${header.row.name} of ${header.headerLength + header.remainingLength} bytes exceeds maxPacketSize ${maxPacketSize}`,
    header.row.type
  )
