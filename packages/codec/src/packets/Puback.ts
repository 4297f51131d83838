/**
 * PUBACK [MQTT-3.4]: the answer to a QoS 1 PUBLISH. In MQTT 5.0 it also carries a reason code and
 * properties; see `ackCodec` for its short forms.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { ackCodec } from "../internal/ack.ts"
import { AckProperties } from "../Properties.ts"
import { PubackReasonCode } from "../ReasonCode.ts"
import { PacketId } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * PUBACK in MQTT 3.1.1 [MQTT-3.4].
 *
 * @since 0.1.0
 * @category packets
 */
export const Puback = Schema.Struct({ _tag: Schema.tag("Puback"), packetId: PacketId })

/**
 * PUBACK in MQTT 5.0 [MQTT-3.4]: `reasonCode` 0 is Success.
 *
 * @since 0.3.0
 * @category packets
 */
export const PubackV5 = Schema.Struct({
  ...Puback.fields,
  reasonCode: PubackReasonCode,
  properties: Schema.optionalKey(AckProperties)
})

/**
 * A PUBACK of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Puback<V extends ProtocolVersion = 4> = V extends 5 ? typeof PubackV5.Type : typeof Puback.Type

/** The codec of PUBACK, for the table of packet types. */
export const codec = ackCodec("Puback", "[MQTT-3.4.2-1]")
