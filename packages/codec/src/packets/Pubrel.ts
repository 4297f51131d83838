/**
 * PUBREL [MQTT-3.6]: the answer to a PUBREC. In MQTT 5.0 it also carries a reason code and
 * properties; see `ackCodec` for its short forms.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { ackCodec } from "../internal/ack.ts"
import { AckProperties } from "../Properties.ts"
import { PubrelReasonCode } from "../ReasonCode.ts"
import { PacketId } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * PUBREL in MQTT 3.1.1 [MQTT-3.6].
 *
 * @since 0.1.0
 * @category packets
 */
export const Pubrel = Schema.Struct({ _tag: Schema.tag("Pubrel"), packetId: PacketId })

/**
 * PUBREL in MQTT 5.0 [MQTT-3.6]: `reasonCode` 0 is Success.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubrelV5 = Schema.Struct({
  ...Pubrel.fields,
  reasonCode: PubrelReasonCode,
  properties: Schema.optionalKey(AckProperties)
})

/**
 * A PUBREL of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Pubrel<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubrelV5.Type : typeof Pubrel.Type

/** The codec of PUBREL, for the table of packet types. */
export const codec = ackCodec("Pubrel", "[MQTT-3.6.2-1]")
