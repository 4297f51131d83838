/**
 * The one error the codec produces: bytes that are not a valid MQTT 3.1.1 packet.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Bytes that break the MQTT 3.1.1 wire format. `message` says which rule (with its spec section) was
 * broken; `packetType` is the fixed-header type nibble when it was read.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  message: Schema.String,
  packetType: Schema.optionalKey(Schema.Number)
}) {}
