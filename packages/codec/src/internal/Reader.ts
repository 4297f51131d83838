/**
 * A bounds-checked cursor over the variable header and payload of one packet, shared by the packet
 * readers. Reads never go past `end` (the end of the remaining length, or of a property block): a
 * field that would is a `DecodeError`, never an out-of-bounds read.
 *
 * @since 0.1.0
 */
import { DecodeError } from "../DecodeError.ts"
import type { ProtocolVersion } from "../packets/fields.ts"
import type { PacketKind } from "./PacketCodec.ts"
import { rulesOf } from "./rules.ts"
import type { Rules } from "./rules.ts"
import { readUtf8 } from "../decode/utf8.ts"
import type { Utf8Failure } from "../decode/utf8.ts"
import { topicFilterShapeError } from "../Topic.ts"
import { readVarint, VARINT_INCOMPLETE, VARINT_NOT_MINIMAL } from "./varint.ts"

/**
 * A `DecodeError` for a packet of type `type` (omit it when the type is unknown).
 *
 * @since 0.1.0
 */
export const decodeError = (message: string, type?: number): DecodeError =>
  type === undefined ? new DecodeError({ message }) : new DecodeError({ message, packetType: type })

/**
 * Cursor over `bytes[pos, end)`, the body of one packet of the given kind.
 *
 * @since 0.1.0
 */
export class Reader {
  readonly bytes: Uint8Array
  pos: number
  readonly end: number
  readonly kind: PacketKind
  readonly version: ProtocolVersion

  constructor(bytes: Uint8Array, pos: number, end: number, kind: PacketKind, version: ProtocolVersion) {
    this.bytes = bytes
    this.pos = pos
    this.end = end
    this.kind = kind
    this.version = version
  }

  /** The citations of this packet's protocol version (looked up when an error is worded). */
  get rules(): Rules {
    return rulesOf(this.version)
  }

  /** The rule that sets `end`: the remaining length (a property block's reader says its own). */
  get endRule(): string {
    return this.rules.remainingLength
  }

  /** A reader of the next `length` bytes, a property block, whose end the Property Length sets [MQTT-2.2.2.1]. */
  block(length: number): Reader {
    return new BlockReader(this.bytes, this.pos, this.pos + length, this.kind, this.version)
  }

  /** Bytes left before `end`. */
  get remaining(): number {
    return this.end - this.pos
  }

  /** A `DecodeError` for this packet, prefixed with its name. */
  fail(message: string): DecodeError {
    return decodeError(`${this.kind.name} ${message}`, this.kind.type)
  }

  /** A field of `size` bytes would run past the remaining length (or the property length). */
  pastEnd(field: string, size: number): DecodeError {
    return this.fail(`${field} needs ${size} bytes but only ${this.remaining} remain ${this.endRule}`)
  }

  /** One byte, or -1 when none is left. */
  u8(): number {
    return this.pos < this.end ? (this.bytes[this.pos++] as number) : -1
  }

  /** A big-endian Two Byte Integer [MQTT-1.5.2], or -1 when fewer than two bytes are left. */
  u16(): number {
    const pos = this.pos
    if (pos + 2 > this.end) return -1
    this.pos = pos + 2
    return ((this.bytes[pos] as number) << 8) | (this.bytes[pos + 1] as number)
  }

  /** A big-endian Four Byte Integer [MQTT-1.5.3], or -1 when fewer than four bytes are left. */
  u32(): number {
    const pos = this.pos
    if (pos + 4 > this.end) return -1
    this.pos = pos + 4
    const b = this.bytes
    return (b[pos] as number) * 0x100_0000 + (((b[pos + 1] as number) << 16) | ((b[pos + 2] as number) << 8) | (b[pos + 3] as number))
  }

  /** A Variable Byte Integer [MQTT-1.5.5]: at most four bytes, minimally encoded [MQTT-1.5.5-1]. */
  varint(field: string): number | DecodeError {
    const result = readVarint(this.bytes, this.pos, this.end)
    if (result >= 0) {
      this.pos += result & 7
      return result >> 3
    }
    if (result === VARINT_INCOMPLETE) return this.fail(`${field} runs past its end ${this.endRule}`)
    return this.fail(
      result === VARINT_NOT_MINIMAL
        ? `${field} is not minimally encoded [MQTT-1.5.5-1]`
        : `${field} is longer than 4 bytes [MQTT-1.5.5]`
    )
  }

  /** A packet identifier, which must be non-zero. */
  packetId(): number | DecodeError {
    const id = this.u16()
    return id > 0 ? id : id < 0 ? this.pastEnd("packet identifier", 2) : this.fail(`with packet identifier 0 ${this.rules.packetId}`)
  }

  /** Length-prefixed bytes [MQTT-1.5.6]; a `subarray` view of the input, not a copy. */
  binary(field: string): Uint8Array | DecodeError {
    const start = this.#lengthPrefixed(field)
    return typeof start === "number" ? this.bytes.subarray(start, this.pos) : start
  }

  /** A length-prefixed UTF-8 string: well-formed [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2]. */
  string(field: string): string | DecodeError {
    const start = this.#lengthPrefixed(field)
    if (typeof start !== "number") return start
    const s = readUtf8(this.bytes, start, this.pos)
    return typeof s === "string" ? s : this.utf8Error(field, s)
  }

  /** Why a string is not an MQTT string (worded apart from `string`, which stays small to inline). */
  utf8Error(field: string, failure: Utf8Failure): DecodeError {
    return this.fail(
      failure.nul
        ? `${field} contains the null character U+0000 ${this.rules.noNull}`
        : `${field} is not well-formed UTF-8 ${this.rules.wellFormed}`
    )
  }

  /**
   * The payload of a SUBSCRIBE or UNSUBSCRIBE: topic filters [MQTT-4.7.1][MQTT-4.7.3-1] up to `end`
   * (`string` checked the string rules on the bytes), each with what `entry` reads after it.
   */
  topicFilters<A>(entry: (r: Reader, filter: string) => A | DecodeError): Array<A> | DecodeError {
    const entries: Array<A> = []
    while (this.remaining > 0) {
      const filter = this.string("topic filter")
      if (typeof filter !== "string") return filter
      const issue = topicFilterShapeError(filter)
      if (issue !== undefined) return this.fail(`with invalid topic filter: ${issue}`)
      const a = entry(this, filter)
      if (a instanceof DecodeError) return a
      entries.push(a)
    }
    return entries
  }

  /** Reads a 2-byte length and moves past that many bytes: where the field starts, or why it is cut short. */
  #lengthPrefixed(field: string): number | DecodeError {
    const length = this.u16()
    if (length < 0) return this.pastEnd(`${field} length`, 2)
    const start = this.pos
    if (start + length > this.end) return this.pastEnd(field, length)
    this.pos = start + length
    return start
  }

  /** Fails unless every byte was read, e.g. CONNECT with trailing bytes. */
  done<A>(packet: A): A | DecodeError {
    return this.pos === this.end
      ? packet
      : this.fail(`has ${this.end - this.pos} bytes after its last field ${this.endRule}`)
  }
}

/** A reader bounded by a Property Length, which its errors cite [MQTT-2.2.2.1]. */
class BlockReader extends Reader {
  override get endRule(): string {
    return "[MQTT-2.2.2.1]"
  }
}
