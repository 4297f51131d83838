/**
 * PUBCOMP [MQTT-3.7]: the receiver of a QoS 2 PUBLISH answers PUBREL with it, which completes the
 * delivery and frees the packet identifier. Its MQTT 5.0 reason codes are those of PUBREL.
 *
 * @since 0.3.0
 */
import { ackCodec, ackModels } from "../internal/ack.ts"
import type { ProtocolVersion } from "./fields.ts"

const models = ackModels("Pubcomp")

/**
 * PUBCOMP in MQTT 3.1.1 [MQTT-3.7]: the packet identifier of the PUBLISH.
 *
 * @since 0.1.0
 * @category packets
 */
export const Pubcomp = models.v4

/**
 * PUBCOMP in MQTT 5.0 [MQTT-3.7], with a reason code and properties.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubcompV5 = models.v5

/**
 * A PUBCOMP of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Pubcomp<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubcompV5.Type : typeof Pubcomp.Type

/** The codec of PUBCOMP for the table of packet types; one of its reason codes [MQTT-3.7.2-1]. */
export const codec = ackCodec("Pubcomp", "[MQTT-3.7.2-1]")
