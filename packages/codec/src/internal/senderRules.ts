/**
 * The sender-side checks several packets share: what `packetError` refuses beyond the Schema, so that
 * nothing invalid reaches the wire.
 *
 * @since 0.3.0
 */
import { mqttStringError } from "../MqttString.ts"
import { topicFilterError } from "../Topic.ts"
import type { Rules } from "./rules.ts"

/**
 * `reason` wrapped in a prefix and suffix, or undefined when there is no reason.
 *
 * @since 0.3.0
 */
export const prefixed = (prefix: string, reason: string | undefined, suffix = ""): string | undefined =>
  reason === undefined ? undefined : prefix + reason + suffix

/**
 * Binary Data has a 2-byte length: at most 65535 bytes.
 *
 * @since 0.3.0
 */
export const binaryError = (field: string, bytes: Uint8Array, rules: Rules): string | undefined =>
  bytes.length > 65535 ? `${field} is longer than 65535 bytes ${rules.binaryData}` : undefined

/**
 * Why a topic filter of a SUBSCRIBE or UNSUBSCRIBE (`packet`) cannot be sent: not an MQTT string,
 * or not a topic filter [MQTT-4.7].
 *
 * @since 0.3.0
 */
export const filterError = (packet: string, filter: string): string | undefined =>
  mqttStringError(filter, `${packet} topic filter`) ?? prefixed(`${packet} with invalid topic filter: `, topicFilterError(filter))

/**
 * The first error of `items`, or `undefined`.
 *
 * @since 0.3.0
 */
export const firstError = <A>(items: ReadonlyArray<A>, error: (a: A) => string | undefined): string | undefined => {
  for (const a of items) {
    const e = error(a)
    if (e !== undefined) return e
  }
  return undefined
}
