/**
 * The one table of MQTT control packet types [MQTT-2.1.2]: for each, its number (the high nibble of
 * the fixed header), its name in the standard, its fixed-header flags [MQTT-2.1.3], the first
 * protocol version that has it, and its codec (the packet's module). Encoding and decoding dispatch
 * through it. A new packet is its module, a line here and a case in `rowOf`, and its models in the
 * unions of `Packet.ts`; the compiler asks for each.
 *
 * @since 0.3.0
 */
import type { PacketCodec } from "./internal/PacketCodec.ts"
import type { Packet } from "./Packet.ts"
import * as Auth from "./packets/Auth.ts"
import * as Connack from "./packets/Connack.ts"
import * as Connect from "./packets/Connect.ts"
import * as Disconnect from "./packets/Disconnect.ts"
import type { ProtocolVersion } from "./packets/fields.ts"
import * as Pingreq from "./packets/Pingreq.ts"
import * as Pingresp from "./packets/Pingresp.ts"
import * as Puback from "./packets/Puback.ts"
import * as Pubcomp from "./packets/Pubcomp.ts"
import * as Publish from "./packets/Publish.ts"
import * as Pubrec from "./packets/Pubrec.ts"
import * as Pubrel from "./packets/Pubrel.ts"
import * as Suback from "./packets/Suback.ts"
import * as Subscribe from "./packets/Subscribe.ts"
import * as Unsuback from "./packets/Unsuback.ts"
import * as Unsubscribe from "./packets/Unsubscribe.ts"

type AnyPacket = Packet<ProtocolVersion>
type Tag = AnyPacket["_tag"]

/**
 * Each packet, in either protocol version, by its `_tag`.
 *
 * @since 0.3.0
 */
export type PacketOfTag = { readonly [T in Tag]: Extract<AnyPacket, { readonly _tag: T }> }

/**
 * A line of the table.
 *
 * @since 0.3.0
 */
export interface PacketRow<P, N extends number = number> {
  /** The packet type, the high nibble of the first byte [MQTT-2.1.2]. */
  readonly type: N
  /** The packet's name in the standard, which messages use. */
  readonly name: string
  /** The fixed-header flags, or `undefined` where they vary (PUBLISH: its codec's `flags`). */
  readonly flags: number | undefined
  /** The flags a decoder accepts, as a bit mask: bit `f` is set when flags `f` are valid. */
  readonly validFlags: number
  /** The first protocol version with this packet. */
  readonly since: ProtocolVersion
  readonly codec: PacketCodec<P>
}

const row = <P, const N extends number>(
  type: N,
  name: string,
  flags: number | undefined,
  codec: PacketCodec<P>,
  since: ProtocolVersion = 4
): PacketRow<P, N> => {
  let validFlags = 0
  for (let f = 0; f < 16; f++) {
    if (flags === undefined ? codec.flagsError?.(f) === undefined : f === flags) validFlags |= 1 << f
  }
  return { type, name, flags, validFlags, since, codec }
}

/**
 * The table, by `_tag`.
 *
 * @since 0.3.0
 */
export const packetTable = {
  Connect: row(1, "CONNECT", 0b0000, Connect.codec),
  Connack: row(2, "CONNACK", 0b0000, Connack.codec),
  Publish: row(3, "PUBLISH", undefined, Publish.codec),
  Puback: row(4, "PUBACK", 0b0000, Puback.codec),
  Pubrec: row(5, "PUBREC", 0b0000, Pubrec.codec),
  Pubrel: row(6, "PUBREL", 0b0010, Pubrel.codec), // [MQTT-3.6.1-1]
  Pubcomp: row(7, "PUBCOMP", 0b0000, Pubcomp.codec),
  Subscribe: row(8, "SUBSCRIBE", 0b0010, Subscribe.codec), // [MQTT-3.8.1-1]
  Suback: row(9, "SUBACK", 0b0000, Suback.codec),
  Unsubscribe: row(10, "UNSUBSCRIBE", 0b0010, Unsubscribe.codec), // [MQTT-3.10.1-1]
  Unsuback: row(11, "UNSUBACK", 0b0000, Unsuback.codec),
  Pingreq: row(12, "PINGREQ", 0b0000, Pingreq.codec),
  Pingresp: row(13, "PINGRESP", 0b0000, Pingresp.codec),
  Disconnect: row(14, "DISCONNECT", 0b0000, Disconnect.codec),
  Auth: row(15, "AUTH", 0b0000, Auth.codec, 5) // [MQTT-3.15.1-1]
} satisfies { readonly [T in Tag]: PacketRow<PacketOfTag[T]> }

type Table = typeof packetTable

/**
 * Control packet type numbers by `_tag`, the high nibble of the fixed header [MQTT-2.1.2]. AUTH (15)
 * exists in MQTT 5.0 only.
 *
 * @since 0.1.0
 * @category packets
 */
export const PacketType = Object.fromEntries(Object.entries(packetTable).map(([tag, r]) => [tag, r.type])) as {
  readonly [T in Tag]: Table[T]["type"]
}

/** Every row as a row of any packet: the dispatch only ever hands a row its own packet. */
const anyRow = packetTable as { readonly [T in Tag]: PacketRow<AnyPacket> }

/**
 * The row of `tag`. A switch, most frequent packets first: on a hot path it beats a keyed lookup in
 * the table, whose call site sees every tag. The compiler checks that every tag has its case.
 *
 * @since 0.3.0
 */
export const rowOf = (tag: Tag): PacketRow<AnyPacket> => {
  switch (tag) {
    case "Publish":
      return anyRow.Publish
    case "Puback":
      return anyRow.Puback
    case "Pubrec":
      return anyRow.Pubrec
    case "Pubrel":
      return anyRow.Pubrel
    case "Pubcomp":
      return anyRow.Pubcomp
    case "Pingreq":
      return anyRow.Pingreq
    case "Pingresp":
      return anyRow.Pingresp
    case "Subscribe":
      return anyRow.Subscribe
    case "Suback":
      return anyRow.Suback
    case "Unsubscribe":
      return anyRow.Unsubscribe
    case "Unsuback":
      return anyRow.Unsuback
    case "Connect":
      return anyRow.Connect
    case "Connack":
      return anyRow.Connack
    case "Disconnect":
      return anyRow.Disconnect
    case "Auth":
      return anyRow.Auth
  }
}

/** The rows of `version` by packet type number, in a packed array; reserved types are `undefined`. */
const rowsByType = (version: ProtocolVersion): ReadonlyArray<PacketRow<AnyPacket> | undefined> => {
  const rows = Object.values(anyRow)
  return Array.from({ length: 16 }, (_, type) => rows.find((r) => r.type === type && r.since <= version))
}

/**
 * The rows by packet type number in MQTT 3.1.1: 0 and 15 are reserved [MQTT-2.2.1] (in MQTT 5.0,
 * 15 is AUTH).
 *
 * @since 0.3.0
 */
export const byType4 = rowsByType(4)

/**
 * {@link byType4} for MQTT 5.0.
 *
 * @since 0.3.0
 */
export const byType5 = rowsByType(5)

/**
 * The row of packet type `type` in protocol `version`, or `undefined` for a reserved type: 0, and 15
 * before MQTT 5.0.
 *
 * @since 0.3.0
 */
export const rowOfType = (type: number, version: ProtocolVersion): PacketRow<AnyPacket> | undefined =>
  (version === 5 ? byType5 : byType4)[type]

/**
 * The name of packet type `type` in protocol `version`, e.g. `"PUBLISH"` for 3, `"Reserved(0)"` for 0.
 *
 * @since 0.3.0
 */
export const packetName = (type: number, version: ProtocolVersion): string =>
  rowOfType(type, version)?.name ?? `Reserved(${type})`
