/**
 * MQTT 5.0 publish properties as the durable session stores keep them: JSON, through the codec's
 * `PropertiesSchema.Publish` (Correlation Data as base64, User Properties as `[name, value]` pairs, in
 * order). Decoding checks every value as the codec does (whole numbers in range, known keys), so a damaged
 * record is reported instead of being sent.
 *
 * Internal: shared by `FileSessionStore` and `SqliteSessionStore`.
 *
 * @since 0.4.0
 */
import { PropertiesSchema } from "@aimeqtt/codec"
import { Schema } from "effect"

/**
 * The properties of a publish ⇄ their JSON value (an object, ready for `JSON.stringify` or for embedding
 * in a larger JSON record).
 *
 * @since 0.4.0
 */
export const PropertiesJson = Schema.toCodecJson(PropertiesSchema.Publish)

/**
 * The properties of a publish ⇄ their JSON text (what a text column or field stores).
 *
 * @since 0.4.0
 */
export const PropertiesJsonText = Schema.fromJsonString(PropertiesJson)
