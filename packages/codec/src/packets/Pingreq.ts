/**
 * PINGREQ [MQTT-3.12]: a client's keep-alive probe. The same in both protocol versions.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { emptyCodec } from "../internal/empty.ts"

/**
 * PINGREQ [MQTT-3.12].
 *
 * @since 0.1.0
 * @category packets
 */
export const Pingreq = Schema.Struct({ _tag: Schema.tag("Pingreq") })
/**
 * @since 0.1.0
 * @category packets
 */
export type Pingreq = typeof Pingreq.Type

/** The codec of PINGREQ, for the table of packet types. */
export const codec = emptyCodec("Pingreq")
