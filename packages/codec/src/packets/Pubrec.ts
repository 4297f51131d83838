/**
 * PUBREC [MQTT-3.5]: the first answer to a QoS 2 PUBLISH; the receiver now owns the message. In MQTT
 * 5.0 a reason code of 0x80 or above refuses it and ends the exchange, with no PUBREL to follow.
 *
 * @since 0.3.0
 */
import { ackCodec, ackModels } from "../internal/ack.ts"
import type { ProtocolVersion } from "./fields.ts"

const models = ackModels("Pubrec")

/**
 * PUBREC in MQTT 3.1.1 [MQTT-3.5]: the packet identifier of the PUBLISH.
 *
 * @since 0.1.0
 * @category packets
 */
export const Pubrec = models.v4

/**
 * PUBREC in MQTT 5.0 [MQTT-3.5], whose reason codes are those of PUBACK.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubrecV5 = models.v5

/**
 * A PUBREC of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Pubrec<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubrecV5.Type : typeof Pubrec.Type

/** The codec of PUBREC for the table of packet types; one of its reason codes [MQTT-3.5.2-1]. */
export const codec = ackCodec("Pubrec", "[MQTT-3.5.2-1]")
