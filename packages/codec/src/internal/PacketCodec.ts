/**
 * What every packet module provides to the table of packet types (`PacketType.ts`), which dispatches
 * encoding and decoding through it: the size, writer, reader and sender-side rules of one packet,
 * for both protocol versions.
 *
 * @since 0.3.0
 */
import type { DecodeError } from "../DecodeError.ts"
import type { ProtocolVersion } from "../packets/fields.ts"

/**
 * The number and spec name of a packet type, from the table, which a reader cites in its errors.
 *
 * @since 0.3.0
 */
export interface PacketKind {
  readonly type: number
  readonly name: string
}

/**
 * The codec of packets `P` (the packet in either protocol version).
 *
 * @since 0.3.0
 */
export interface PacketCodec<P> {
  /**
   * The size of `packet` after the fixed header: its remaining length [MQTT-2.1.4]. `write` writes
   * exactly this many bytes.
   */
  readonly size: (packet: P, version: ProtocolVersion) => number
  /** Writes the variable header and payload of `packet` at `out[pos]`. */
  readonly write: (out: Uint8Array, pos: number, packet: P, version: ProtocolVersion) => void
  /**
   * Decodes the body `bytes[start, end)` of a packet whose fixed header (with these `flags`) the
   * table has checked. Byte fields of the result may be views of `bytes`.
   */
  readonly read: (
    bytes: Uint8Array,
    start: number,
    end: number,
    flags: number,
    kind: PacketKind,
    version: ProtocolVersion
  ) => P | DecodeError
  /**
   * Why `packet`, valid for its Schema, cannot be sent in `version`: the rules the Schema does not
   * express (strings, topics, fields that depend on each other), or `undefined`.
   */
  readonly error: (packet: P, version: ProtocolVersion) => string | undefined
  /** For a packet whose fixed-header flags vary (PUBLISH): the flags of `packet`. */
  readonly flags: ((packet: P) => number) | undefined
  /** For a packet whose fixed-header flags vary (PUBLISH): why `flags` are invalid, or `undefined`. */
  readonly flagsError: ((flags: number) => string | undefined) | undefined
  /**
   * Whether its MQTT 3.1.1 body is a packet identifier and nothing else (the acknowledgements): the
   * encoder then writes it itself, without a call, as these are the most frequent packets after PUBLISH.
   */
  readonly idOnly4: boolean
}

/**
 * A codec with every field in the same order, so that the table's dispatch sees one object shape.
 *
 * @since 0.3.0
 */
export const packetCodec = <P>(
  codec: Omit<PacketCodec<P>, "flags" | "flagsError" | "idOnly4"> & Partial<Pick<PacketCodec<P>, "flags" | "flagsError" | "idOnly4">>
): PacketCodec<P> => ({
  size: codec.size,
  write: codec.write,
  read: codec.read,
  error: codec.error,
  flags: codec.flags,
  flagsError: codec.flagsError,
  idOnly4: codec.idOnly4 ?? false
})
