/**
 * PUBCOMP [MQTT-3.7]: the answer to a PUBREL, which completes a QoS 2 delivery. In MQTT 5.0 it also carries a reason code and
 * properties; see `ackCodec` for its short forms.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { ackCodec } from "../internal/ack.ts"
import { AckProperties } from "../Properties.ts"
import { PubcompReasonCode } from "../ReasonCode.ts"
import { PacketId } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * PUBCOMP in MQTT 3.1.1 [MQTT-3.7].
 *
 * @since 0.1.0
 * @category packets
 */
export const Pubcomp = Schema.Struct({ _tag: Schema.tag("Pubcomp"), packetId: PacketId })

/**
 * PUBCOMP in MQTT 5.0 [MQTT-3.7]: `reasonCode` 0 is Success.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubcompV5 = Schema.Struct({
  ...Pubcomp.fields,
  reasonCode: PubcompReasonCode,
  properties: Schema.optionalKey(AckProperties)
})

/**
 * A PUBCOMP of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Pubcomp<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubcompV5.Type : typeof Pubcomp.Type

/** The codec of PUBCOMP, for the table of packet types. */
export const codec = ackCodec("Pubcomp", "[MQTT-3.7.2-1]")
