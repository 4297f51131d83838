/**
 * A bounds-checked cursor over the variable header and payload of one packet, shared by the packet
 * readers. Reads never go past `end` (the end of the remaining length): a field that would is a
 * `DecodeError`, never an out-of-bounds read.
 *
 * @since 0.1.0
 */
import { DecodeError } from "../DecodeError.ts"
import { readUtf8 } from "./utf8.ts"

/**
 * Spec names of the packet types, indexed by the type nibble of the fixed header [MQTT-2.2.1].
 *
 * @since 0.1.0
 */
export const packetNames: ReadonlyArray<string> = [
  "Reserved(0)",
  "CONNECT",
  "CONNACK",
  "PUBLISH",
  "PUBACK",
  "PUBREC",
  "PUBREL",
  "PUBCOMP",
  "SUBSCRIBE",
  "SUBACK",
  "UNSUBSCRIBE",
  "UNSUBACK",
  "PINGREQ",
  "PINGRESP",
  "DISCONNECT",
  "Reserved(15)"
]

/**
 * The spec name of a packet type number, e.g. `"PUBLISH"` for 3.
 *
 * @since 0.1.0
 */
export const packetName = (type: number): string => packetNames[type] ?? `type ${type}`

/**
 * A `DecodeError` for a packet of type `type` (omit it when the type is unknown).
 *
 * @since 0.1.0
 */
export const decodeError = (message: string, type?: number): DecodeError =>
  type === undefined ? new DecodeError({ message }) : new DecodeError({ message, packetType: type })

/**
 * Cursor over `bytes[pos, end)`, the body of one packet of type `type`.
 *
 * @since 0.1.0
 */
export class Reader {
  readonly bytes: Uint8Array
  pos: number
  readonly end: number
  readonly type: number

  constructor(bytes: Uint8Array, pos: number, end: number, type: number) {
    this.bytes = bytes
    this.pos = pos
    this.end = end
    this.type = type
  }

  /** Bytes left before `end`. */
  get remaining(): number {
    return this.end - this.pos
  }

  /** A `DecodeError` for this packet, prefixed with its name. */
  fail(message: string): DecodeError {
    return decodeError(`${packetName(this.type)} ${message}`, this.type)
  }

  /** A field of `size` bytes would run past the remaining length [MQTT-2.2.3]. */
  pastEnd(field: string, size: number): DecodeError {
    return this.fail(`${field} needs ${size} bytes but only ${this.remaining} remain [MQTT-2.2.3]`)
  }

  /** One byte, or -1 when none is left. */
  u8(): number {
    return this.pos < this.end ? (this.bytes[this.pos++] as number) : -1
  }

  /** A big-endian two byte integer [MQTT-1.5.2], or -1 when fewer than two bytes are left. */
  u16(): number {
    const pos = this.pos
    if (pos + 2 > this.end) return -1
    this.pos = pos + 2
    return ((this.bytes[pos] as number) << 8) | (this.bytes[pos + 1] as number)
  }

  /** A packet identifier, which must be non-zero [MQTT-2.3.1-1]. */
  packetId(): number | DecodeError {
    const id = this.u16()
    if (id < 0) return this.pastEnd("packet identifier", 2)
    return id === 0 ? this.fail("with packet identifier 0 [MQTT-2.3.1-1]") : id
  }

  /** Length-prefixed bytes [MQTT-1.5.3]; a `subarray` view of the input, not a copy. */
  binary(field: string): Uint8Array | DecodeError {
    const start = this.#lengthPrefixed(field)
    return typeof start === "number" ? this.bytes.subarray(start, this.pos) : start
  }

  /** A length-prefixed UTF-8 string: well-formed, no U+0000 [MQTT-1.5.3-1][MQTT-1.5.3-2]. */
  string(field: string): string | DecodeError {
    const start = this.#lengthPrefixed(field)
    if (typeof start !== "number") return start
    const s = readUtf8(this.bytes, start, this.pos)
    return typeof s === "string" ? s : this.fail(`${field} ${s.reason}`)
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

  /** Fails unless every byte was read, e.g. CONNECT with trailing bytes [MQTT-2.2.3]. */
  done<A>(packet: A): A | DecodeError {
    return this.pos === this.end
      ? packet
      : this.fail(`has ${this.end - this.pos} bytes after its last field [MQTT-2.2.3]`)
  }
}
