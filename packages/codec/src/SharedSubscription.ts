/**
 * Shared subscriptions, `$share/{ShareName}/{filter}` [MQTT-4.8.2]: the broker delivers each message
 * matching `filter` to one of the sessions subscribed with the same ShareName (a consumer group).
 * MQTT 5.0 defines them; mosquitto 2 also serves them to MQTT 3.1.1 clients, for which the filter is an
 * ordinary string on the wire. Messages arrive with their real topic (`jobs/a`, never `$share/g/jobs/a`),
 * so a client matches them against the filter after the ShareName ({@link matchingFilter}).
 *
 * @since 0.2.0
 */

const PREFIX = "$share/"
const SLASH = 0x2f // "/"
const PLUS = 0x2b // "+"
const HASH = 0x23 // "#"

/**
 * The parts of a shared subscription's topic filter.
 *
 * @since 0.2.0
 * @category topics
 */
export interface SharedSubscription {
  /** The ShareName: the consumer group, at least one character, no `/`, `+` or `#` [MQTT-4.8.2-1][MQTT-4.8.2-2]. */
  readonly shareName: string
  /** The topic filter after the ShareName, which messages are matched against. */
  readonly filter: string
}

/**
 * Whether `filter` is meant as a shared subscription: it starts with `$share/` [MQTT-4.8.2-1].
 *
 * @since 0.2.0
 * @category topics
 */
export const isSharedSubscription = (filter: string): boolean => filter.charCodeAt(0) === 0x24 && filter.startsWith(PREFIX)

/**
 * The ShareName and filter of a shared subscription, a string saying why it is malformed, or `undefined`
 * when `filter` is not a shared subscription (it does not start with `$share/`). The filter part's own
 * rules (wildcards, MQTT string) are those of any topic filter, checked by `topicFilterError`.
 *
 * @example
 * parseSharedSubscription("$share/workers/jobs/#") // { shareName: "workers", filter: "jobs/#" }
 * parseSharedSubscription("$share/a+b/jobs")       // "the ShareName of a shared subscription must not contain ..."
 *
 * @since 0.2.0
 * @category topics
 */
export const parseSharedSubscription = (filter: string): SharedSubscription | string | undefined => {
  if (!isSharedSubscription(filter)) return undefined
  const end = filter.indexOf("/", PREFIX.length)
  const shareName = filter.slice(PREFIX.length, end === -1 ? filter.length : end)
  // [MQTT-4.8.2-1]: a ShareName of at least one character.
  if (shareName.length === 0) return "the ShareName of a shared subscription must be at least one character long [MQTT-4.8.2-1]"
  for (let i = 0; i < shareName.length; i++) {
    const c = shareName.charCodeAt(i)
    // [MQTT-4.8.2-2]: no "/" (it ends the ShareName), "+" or "#".
    if (c === PLUS || c === HASH || c === SLASH) {
      return "the ShareName of a shared subscription must not contain '/', '+' or '#' [MQTT-4.8.2-2]"
    }
  }
  // [MQTT-4.8.2-2]: the ShareName is followed by "/" and a topic filter.
  if (end === -1 || end === filter.length - 1) {
    return "a shared subscription needs a topic filter after its ShareName: $share/{ShareName}/{filter} [MQTT-4.8.2-2]"
  }
  return { shareName, filter: filter.slice(end + 1) }
}

/**
 * Why `filter` is a malformed shared subscription, or `undefined` (valid, or not a shared subscription).
 *
 * @since 0.2.0
 * @category topics
 */
export const sharedSubscriptionError = (filter: string): string | undefined => {
  const parsed = parseSharedSubscription(filter)
  return typeof parsed === "string" ? parsed : undefined
}

/**
 * The filter incoming messages are matched against: for `$share/{ShareName}/{filter}`, `filter`;
 * otherwise `filter` itself. Assumes a valid filter.
 *
 * @since 0.2.0
 * @category topics
 */
export const matchingFilter = (filter: string): string => {
  if (!isSharedSubscription(filter)) return filter
  const parsed = parseSharedSubscription(filter)
  return typeof parsed === "object" ? parsed.filter : filter
}
