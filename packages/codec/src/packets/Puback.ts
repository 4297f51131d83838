/**
 * PUBACK [MQTT-3.4]: the receiver of a QoS 1 PUBLISH acknowledges it, and the sender forgets it. In
 * MQTT 5.0 a reason code says whether the message was accepted (below 0x80) or refused, and why.
 *
 * @since 0.3.0
 */
import { ackCodec, ackModels } from "../internal/ack.ts"
import type { ProtocolVersion } from "./fields.ts"

const models = ackModels("Puback")

/**
 * PUBACK in MQTT 3.1.1 [MQTT-3.4]: the packet identifier of the PUBLISH.
 *
 * @since 0.1.0
 * @category packets
 */
export const Puback = models.v4

/**
 * PUBACK in MQTT 5.0 [MQTT-3.4]: `reasonCode` 0 is Success, 0x10 No matching subscribers.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubackV5 = models.v5

/**
 * A PUBACK of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Puback<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubackV5.Type : typeof Puback.Type

/** The codec of PUBACK for the table of packet types; one of its reason codes [MQTT-3.4.2-1]. */
export const codec = ackCodec("Puback", "[MQTT-3.4.2-1]")
