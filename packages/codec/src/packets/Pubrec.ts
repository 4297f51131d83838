/**
 * PUBREC [MQTT-3.5]: the first answer to a QoS 2 PUBLISH. In MQTT 5.0 it also carries a reason code and
 * properties; see `ackCodec` for its short forms.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { ackCodec } from "../internal/ack.ts"
import { AckProperties } from "../Properties.ts"
import { PubrecReasonCode } from "../ReasonCode.ts"
import { PacketId } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * PUBREC in MQTT 3.1.1 [MQTT-3.5].
 *
 * @since 0.1.0
 * @category packets
 */
export const Pubrec = Schema.Struct({ _tag: Schema.tag("Pubrec"), packetId: PacketId })

/**
 * PUBREC in MQTT 5.0 [MQTT-3.5]: `reasonCode` 0 is Success.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubrecV5 = Schema.Struct({
  ...Pubrec.fields,
  reasonCode: PubrecReasonCode,
  properties: Schema.optionalKey(AckProperties)
})

/**
 * A PUBREC of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Pubrec<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubrecV5.Type : typeof Pubrec.Type

/** The codec of PUBREC, for the table of packet types. */
export const codec = ackCodec("Pubrec", "[MQTT-3.5.2-1]")
