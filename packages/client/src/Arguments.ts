/**
 * What a program passes to `publish`, `subscribe` and `unsubscribe`, checked at run time too. The types
 * rule out a wrong payload or QoS, but a value typed `any` (`JSON.parse`, an untyped config) gets past
 * them; such a value used to be encoded as garbage, which killed the connection's writer and left every
 * later request waiting. Now it fails typed, before anything is queued.
 *
 * @since 0.2.0
 */
import { outgoingStringError, outgoingTopicNameError } from "@aimeqtt/codec"
import { InvalidOptions, InvalidTopic, PayloadEncodeError } from "./errors.ts"

/** `Array.isArray`, false where it throws (a revoked Proxy). */
const isArray = (value: unknown): value is ReadonlyArray<unknown> => {
  try {
    return Array.isArray(value)
  } catch {
    return false
  }
}

/** What a value is, for a message: `a number`, `an object`, `null`, `an array`. Never throws. */
const kind = (value: unknown): string =>
  value === null || value === undefined
    ? String(value)
    : isArray(value)
    ? "an array"
    : typeof value === "object"
    ? "an object"
    : `a ${typeof value}`

/**
 * `String(value)` for a message, or what the value is when it cannot be turned into a string (a
 * `toString` or `Symbol.toPrimitive` that throws, `Object.create(null)`, a revoked Proxy): never throws.
 */
export const display = (value: unknown): string => {
  try {
    return String(value)
  } catch {
    return `(${kind(value)} that cannot be turned into a string)`
  }
}

const QOS = new Set<unknown>([0, 1, 2])

/** A topic that is not a string (the string's own rules are the codec's). */
export const topicTypeError = (topic: unknown): InvalidTopic | undefined =>
  typeof topic === "string" ? undefined : new InvalidTopic({ topic: display(topic), reason: `a topic must be a string, got ${kind(topic)}` })

/** A raw payload that is neither a string nor a `Uint8Array` [MQTT-3.3.3]. */
export const payloadTypeError = (topic: string, payload: unknown): PayloadEncodeError | undefined =>
  typeof payload === "string" || payload instanceof Uint8Array ? undefined : new PayloadEncodeError({
    topic,
    message: `a payload must be a string or a Uint8Array, got ${kind(payload)}; give { schema } to encode other values as JSON`
  })

/** A QoS other than 0, 1 or 2 [MQTT-4.3], or a `retain` that is not a boolean. */
export const publishOptionsError = (options: { readonly qos?: unknown; readonly retain?: unknown } | undefined): InvalidOptions | undefined => {
  if (options === undefined) return undefined
  if (options.qos !== undefined && !QOS.has(options.qos)) return new InvalidOptions({ message: `qos must be 0, 1 or 2, got ${display(options.qos)}` })
  if (options.retain !== undefined && typeof options.retain !== "boolean") {
    return new InvalidOptions({ message: `retain must be a boolean, got ${kind(options.retain)}` })
  }
  return undefined
}

/** Subscribe options out of range: the QoS, `ack`, and `bufferSize` (a positive integer). */
export const subscribeOptionsError = (
  options: { readonly qos?: unknown; readonly ack?: unknown; readonly bufferSize?: unknown } | undefined
): InvalidOptions | undefined => {
  if (options === undefined) return undefined
  if (options.qos !== undefined && !QOS.has(options.qos)) return new InvalidOptions({ message: `qos must be 0, 1 or 2, got ${display(options.qos)}` })
  if (options.ack !== undefined && options.ack !== "auto" && options.ack !== "manual") {
    return new InvalidOptions({ message: `ack must be "auto" or "manual", got ${display(options.ack)}` })
  }
  const size = options.bufferSize
  if (size !== undefined && (typeof size !== "number" || !Number.isInteger(size) || size < 1)) {
    return new InvalidOptions({ message: `bufferSize must be a positive integer, got ${display(size)}` })
  }
  return undefined
}

/**
 * The filters of a request, each once (a duplicate would be counted twice by the broker's reply), or why
 * they are not a string or a list of strings.
 */
export const filterList = (filters: unknown): ReadonlyArray<string> | InvalidTopic => {
  if (typeof filters === "string") return [filters]
  if (!isArray(filters)) {
    return new InvalidTopic({ topic: display(filters), reason: `filters must be a string or an array of strings, got ${kind(filters)}` })
  }
  try {
    // Copied first: an array-like Proxy is read once, and may throw here (not later).
    const list: Array<unknown> = [...filters]
    for (const filter of list) {
      const error = topicTypeError(filter)
      if (error !== undefined) return error
    }
    return [...new Set(list as ReadonlyArray<string>)]
  } catch (cause) {
    return new InvalidTopic({ topic: display(filters), reason: `the filters could not be read: ${cause instanceof Error ? cause.message : display(cause)}` })
  }
}

const UINT32_MAX = 0xffff_ffff

/** The MQTT 5.0 properties a program may give a PUBLISH (and, with `willDelayInterval`, a will). */
const publishPropertyKeys = new Set([
  "payloadFormatIndicator",
  "messageExpiryInterval",
  "contentType",
  "responseTopic",
  "correlationData",
  "userProperties"
])

/**
 * Why MQTT 5.0 publish (or will) properties cannot be sent, checked at run time, field by field: each
 * string a valid MQTT string without control characters or noncharacters (mosquitto closes the connection
 * for them, and the client would re-send the message for ever) [MQTT-1.5.4], numbers whole and in range
 * (a Four Byte Integer [MQTT-1.5.3]), the Response Topic a topic name [MQTT-3.3.2-14], the right types (a
 * value typed `any` gets past the compiler), no unknown key. `field` names the option (`properties`,
 * `will.properties`).
 */
export const publishPropertiesError = (properties: unknown, field: string, will = false): InvalidOptions | undefined => {
  const fail = (message: string) => new InvalidOptions({ message: `invalid ${field}: ${message}` })
  if (typeof properties !== "object" || properties === null || Array.isArray(properties)) return fail(`expected an object, got ${kind(properties)}`)
  for (const [key, value] of Object.entries(properties)) {
    if (value === undefined) continue
    if (!publishPropertyKeys.has(key) && !(will && key === "willDelayInterval")) return fail(`unknown property ${JSON.stringify(key)}`)
    switch (key) {
      case "payloadFormatIndicator":
        if (typeof value !== "boolean") return fail(`payloadFormatIndicator must be a boolean, got ${kind(value)}`)
        break
      case "messageExpiryInterval":
      case "willDelayInterval":
        if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
          return fail(`${key} must be a whole number of seconds in 0..${UINT32_MAX}, got ${display(value)}`)
        }
        break
      case "contentType": {
        if (typeof value !== "string") return fail(`contentType must be a string, got ${kind(value)}`)
        const issue = outgoingStringError(value, "contentType")
        if (issue !== undefined) return fail(issue)
        break
      }
      case "responseTopic": {
        if (typeof value !== "string") return fail(`responseTopic must be a string, got ${kind(value)}`)
        const issue = outgoingTopicNameError(value)
        if (issue !== undefined) return fail(`responseTopic ${JSON.stringify(value)}: ${issue}`)
        break
      }
      case "correlationData":
        if (!(value instanceof Uint8Array)) return fail(`correlationData must be a Uint8Array, got ${kind(value)}`)
        break
      case "userProperties": {
        const pairs: ReadonlyArray<unknown> = Array.isArray(value)
          ? value
          : typeof value === "object" && value !== null
          ? Object.entries(value)
          : [value]
        for (const pair of pairs) {
          if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
            return fail(`userProperties must be [name, value] pairs of strings (or a record of strings), got ${kind(pair)}`)
          }
          const issue = outgoingStringError(pair[0], "a user property's name") ?? outgoingStringError(pair[1], `user property ${JSON.stringify(pair[0])}`)
          if (issue !== undefined) return fail(issue)
        }
        break
      }
    }
  }
  return undefined
}
