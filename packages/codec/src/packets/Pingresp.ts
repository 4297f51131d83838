/**
 * PINGRESP [MQTT-3.13]: the server's answer to a PINGREQ. The same in both protocol versions.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { emptyCodec } from "../internal/empty.ts"

/**
 * PINGRESP [MQTT-3.13].
 *
 * @since 0.1.0
 * @category packets
 */
export const Pingresp = Schema.Struct({ _tag: Schema.tag("Pingresp") })
/**
 * @since 0.1.0
 * @category packets
 */
export type Pingresp = typeof Pingresp.Type

/** The codec of PINGRESP, for the table of packet types. */
export const codec = emptyCodec("Pingresp")
