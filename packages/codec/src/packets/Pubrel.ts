/**
 * PUBREL [MQTT-3.6]: the sender of a QoS 2 PUBLISH releases it, answering PUBREC; its fixed-header
 * flags are 0b0010 [MQTT-3.6.1-1]. Its MQTT 5.0 reason codes are only 0 and 0x92.
 *
 * @since 0.3.0
 */
import { ackCodec, ackModels } from "../internal/ack.ts"
import type { ProtocolVersion } from "./fields.ts"

const models = ackModels("Pubrel")

/**
 * PUBREL in MQTT 3.1.1 [MQTT-3.6]: the packet identifier of the PUBLISH.
 *
 * @since 0.1.0
 * @category packets
 */
export const Pubrel = models.v4

/**
 * PUBREL in MQTT 5.0 [MQTT-3.6]: `reasonCode` 0 is Success, 0x92 Packet Identifier not found.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubrelV5 = models.v5

/**
 * A PUBREL of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Pubrel<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubrelV5.Type : typeof Pubrel.Type

/** The codec of PUBREL for the table of packet types; one of its reason codes [MQTT-3.6.2-1]. */
export const codec = ackCodec("Pubrel", "[MQTT-3.6.2-1]")
