/**
 * Encoding of packets to bytes. The exact size is computed first, then the packet is written into a
 * single `Uint8Array` with plain byte stores: one allocation per packet. Both go through the codec
 * of the packet's row in the table of packet types.
 *
 * `encode` trusts its input: it assumes a schema-valid packet of its protocol version that also
 * follows the wire rules (every string accepted by `mqttStringError`: no U+0000, no unpaired
 * surrogate, at most 65535 UTF-8 bytes; `packetId` present exactly when QoS > 0, valid topics, ...).
 * It does not check them again: an unpaired surrogate would go out as U+FFFD, i.e. as another string.
 * Use `PacketFromBytes` (or `packetError`) to encode with validation; `@aimeqtt/client` validates
 * every string it sends with `mqttStringError` (through `topicNameError`/`topicFilterError` for
 * topics) before building a packet.
 *
 * @since 0.1.0
 */
import { varintSize, writeVarint } from "./internal/varint.ts"
import { allocate, writeU16 } from "./internal/Writer.ts"
import type { Packet } from "./Packet.ts"
import type { Publish } from "./packets/Publish.ts"
import { rowOf } from "./PacketType.ts"
import type { PacketRow } from "./PacketType.ts"
import type { ProtocolVersion } from "./packets/fields.ts"

/**
 * Options of the encoders: `protocolVersion`, 4 (MQTT 3.1.1, the default) or 5 (MQTT 5.0).
 *
 * @since 0.3.0
 * @category encoding
 */
export interface EncodeOptions<V extends ProtocolVersion = 4> {
  readonly protocolVersion?: V
}

type AnyPacket = Packet<ProtocolVersion>

/** The remaining length of `p` [MQTT-2.1.4]: 2 for the MQTT 3.1.1 acknowledgements, else its codec's. */
const remainingLength = (row: PacketRow<AnyPacket>, p: AnyPacket, version: ProtocolVersion): number =>
  version === 4 && row.codec.idOnly4 ? 2 : row.codec.size(p, version)

/**
 * Writes the fixed header and body of `p`, whose row is `row` and remaining length `rl`, at `start`;
 * returns the end.
 */
const writePacket = (
  out: Uint8Array,
  start: number,
  row: PacketRow<AnyPacket>,
  p: AnyPacket,
  rl: number,
  version: ProtocolVersion
): number => {
  // First byte: type in the high nibble, flags in the low one [MQTT-2.1.1].
  out[start] = (row.type << 4) | (row.flags ?? row.codec.flags?.(p) ?? 0)
  const pos = writeVarint(out, start + 1, rl)
  // An MQTT 3.1.1 acknowledgement is its packet identifier, written here rather than by a call.
  if (version === 4 && row.codec.idOnly4 && "packetId" in p) writeU16(out, pos, p.packetId ?? 0)
  else row.codec.write(out, pos, p, version)
  return pos + rl
}

/**
 * The number of bytes `encode(packet, options)` produces, fixed header included.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodedLength = <V extends ProtocolVersion = 4>(packet: Packet<V>, options?: EncodeOptions<V>): number => {
  const p: AnyPacket = packet
  const rl = remainingLength(rowOf(p._tag), p, options?.protocolVersion ?? 4)
  return 1 + varintSize(rl) + rl
}

/**
 * Encodes `packet` to its bytes in protocol version `options.protocolVersion` (4 by default), in one
 * allocation. In MQTT 5.0 the short forms are written where the standard allows them: an
 * acknowledgement with reason code 0 and no properties has no reason code, a DISCONNECT or AUTH with
 * reason code 0 and no properties is empty, and properties are written in identifier order.
 *
 * Results of at most 4 KiB are views into a shared 64 KiB `ArrayBuffer` (like Node's `Buffer`
 * pool): use `byteOffset`/`byteLength` rather than `.buffer` alone, and `slice()` a result to keep it
 * without retaining the slab. Larger results own their memory; on Node they are `Buffer`s (which are
 * `Uint8Array`s).
 *
 * Assumes a valid packet (see the module notes); invalid input gives meaningless bytes. Validate first
 * with `Schema.encodeEffect(packetFromBytes(version))` (or `packetError`) when the packet comes from
 * outside.
 *
 * @since 0.1.0
 * @category encoding
 */
export function encode(packet: Packet): Uint8Array
// (Two signatures, so that `packets.map(encode)`, which passes an index second, still types.)
export function encode<V extends ProtocolVersion = 4>(packet: Packet<V>, options: EncodeOptions<V> | undefined): Uint8Array
export function encode(packet: Packet<ProtocolVersion>, options?: EncodeOptions<ProtocolVersion>): Uint8Array {
  const version = options?.protocolVersion ?? 4
  // One lookup in the table: the row reads as a row of any packet, and `packet` is its packet.
  const row = rowOf(packet._tag)
  const rl = remainingLength(row, packet, version)
  const out = allocate(1 + varintSize(rl) + rl)
  writePacket(out, 0, row, packet, rl, version)
  return out
}

const EMPTY = new Uint8Array(0)

/**
 * The bytes of a PUBLISH without its payload: fixed header (with the remaining length of the whole
 * packet), topic name, packet identifier, properties. Writing these bytes and then `packet.payload`
 * puts exactly `encode(packet, options)` on the wire, without copying the payload (how the client
 * writes large payloads). Same assumptions as {@link encode}.
 *
 * @since 0.5.0
 * @category encoding
 */
export const encodePublishHead = <V extends ProtocolVersion = 4>(packet: Publish<V>, options?: EncodeOptions<V>): Uint8Array => {
  const p: AnyPacket = packet
  const version = options?.protocolVersion ?? 4
  const row = rowOf(p._tag)
  const rl = remainingLength(row, p, version)
  const out = allocate(1 + varintSize(rl) + rl - packet.payload.length)
  writePacket(out, 0, row, { ...p, payload: EMPTY } as AnyPacket, rl, version)
  return out
}

/**
 * Encodes several packets back to back into one buffer (one allocation, one socket write): how the
 * client coalesces a batch of small packets. Same assumptions as {@link encode}.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeAll = <V extends ProtocolVersion = 4>(
  packets: ReadonlyArray<Packet<V>>,
  options?: EncodeOptions<V>
): Uint8Array => {
  if (packets.length === 1) return encode<V>(packets[0] as Packet<V>, options)
  const all: ReadonlyArray<AnyPacket> = packets
  const version = options?.protocolVersion ?? 4
  const lengths = new Array<number>(all.length)
  let total = 0
  for (let i = 0; i < all.length; i++) {
    const p = all[i] as AnyPacket
    const rl = remainingLength(rowOf(p._tag), p, version)
    lengths[i] = rl
    total += 1 + varintSize(rl) + rl
  }
  const out = allocate(total)
  let pos = 0
  for (let i = 0; i < all.length; i++) {
    const p = all[i] as AnyPacket
    pos = writePacket(out, pos, rowOf(p._tag), p, lengths[i] as number, version)
  }
  return out
}
