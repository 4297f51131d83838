/**
 * The rules both protocol versions share but number differently: MQTT 5.0 renumbered the chapters on
 * data representation and the fixed header. Error messages cite the numbering of the version being
 * decoded; the 3.1.1 citations are the codec's historical messages, kept to the letter.
 *
 * @since 0.3.0
 */
import type { ProtocolVersion } from "../packets/fields.ts"

/**
 * Citations of the shared rules in one protocol version.
 *
 * @since 0.3.0
 */
export interface Rules {
  /** Packet types 0 (and 15 before MQTT 5) are reserved. */
  readonly packetType: string
  /** Fixed-header flags marked reserved must have their listed value. */
  readonly flags: string
  /** The remaining length, and everything measured against it. */
  readonly remainingLength: string
  /** A variable byte integer uses the fewest bytes. */
  readonly minimalVarint: string
  /** A packet identifier is not 0. */
  readonly packetId: string
  /** A UTF-8 string is well-formed. */
  readonly wellFormed: string
  /** A UTF-8 string holds no U+0000. */
  readonly noNull: string
  /** Binary Data is at most 65535 bytes. */
  readonly binaryData: string
  /** A PUBLISH at QoS 0 has no packet identifier. */
  readonly noPacketIdAtQoS0: string
}

const v4: Rules = {
  packetType: "[MQTT-2.2.1]",
  flags: "[MQTT-2.2.2-1]",
  remainingLength: "[MQTT-2.2.3]",
  minimalVarint: "[MQTT-2.2.3]",
  packetId: "[MQTT-2.3.1-1]",
  wellFormed: "[MQTT-1.5.3-1]",
  noNull: "[MQTT-1.5.3-2]",
  binaryData: "[MQTT-1.5.3]",
  noPacketIdAtQoS0: "[MQTT-2.3.1-5]"
}

const v5: Rules = {
  packetType: "[MQTT-2.1.2]",
  flags: "[MQTT-2.1.3-1]",
  remainingLength: "[MQTT-2.1.4]",
  minimalVarint: "[MQTT-1.5.5-1]",
  packetId: "[MQTT-2.2.1-3]",
  wellFormed: "[MQTT-1.5.4-1]",
  noNull: "[MQTT-1.5.4-2]",
  binaryData: "[MQTT-1.5.6]",
  noPacketIdAtQoS0: "[MQTT-2.2.1-2]"
}

/**
 * The citations of `version`.
 *
 * @since 0.3.0
 */
export const rulesOf = (version: ProtocolVersion): Rules => (version === 5 ? v5 : v4)
