/**
 * What a program passes to `publish`, `subscribe` and `unsubscribe`, checked at run time too. The types
 * rule out a wrong payload or QoS, but a value typed `any` (`JSON.parse`, an untyped config) gets past
 * them; such a value used to be encoded as garbage, which killed the connection's writer and left every
 * later request waiting. Now it fails typed, before anything is queued.
 *
 * @since 0.2.0
 */
import { InvalidOptions, InvalidTopic, PayloadEncodeError } from "./errors.ts"

/** What a value is, for a message: `a number`, `an object`, `null`, `an array`. */
const kind = (value: unknown): string =>
  value === null || value === undefined
    ? String(value)
    : Array.isArray(value)
    ? "an array"
    : typeof value === "object"
    ? "an object"
    : `a ${typeof value}`

const QOS = new Set<unknown>([0, 1, 2])

/** A topic that is not a string (the string's own rules are the codec's). */
export const topicTypeError = (topic: unknown): InvalidTopic | undefined =>
  typeof topic === "string" ? undefined : new InvalidTopic({ topic: String(topic), reason: `a topic must be a string, got ${kind(topic)}` })

/** A raw payload that is neither a string nor a `Uint8Array` [MQTT-3.3.3]. */
export const payloadTypeError = (topic: string, payload: unknown): PayloadEncodeError | undefined =>
  typeof payload === "string" || payload instanceof Uint8Array ? undefined : new PayloadEncodeError({
    topic,
    message: `a payload must be a string or a Uint8Array, got ${kind(payload)}; give { schema } to encode other values as JSON`
  })

/** A QoS other than 0, 1 or 2 [MQTT-4.3], or a `retain` that is not a boolean. */
export const publishOptionsError = (options: { readonly qos?: unknown; readonly retain?: unknown } | undefined): InvalidOptions | undefined => {
  if (options === undefined) return undefined
  if (options.qos !== undefined && !QOS.has(options.qos)) return new InvalidOptions({ message: `qos must be 0, 1 or 2, got ${String(options.qos)}` })
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
  if (options.qos !== undefined && !QOS.has(options.qos)) return new InvalidOptions({ message: `qos must be 0, 1 or 2, got ${String(options.qos)}` })
  if (options.ack !== undefined && options.ack !== "auto" && options.ack !== "manual") {
    return new InvalidOptions({ message: `ack must be "auto" or "manual", got ${String(options.ack)}` })
  }
  const size = options.bufferSize
  if (size !== undefined && (typeof size !== "number" || !Number.isInteger(size) || size < 1)) {
    return new InvalidOptions({ message: `bufferSize must be a positive integer, got ${String(size)}` })
  }
  return undefined
}

/**
 * The filters of a request, each once (a duplicate would be counted twice by the broker's reply), or why
 * they are not a string or a list of strings.
 */
export const filterList = (filters: unknown): ReadonlyArray<string> | InvalidTopic => {
  if (typeof filters === "string") return [filters]
  if (!Array.isArray(filters)) {
    return new InvalidTopic({ topic: String(filters), reason: `filters must be a string or an array of strings, got ${kind(filters)}` })
  }
  for (const filter of filters) {
    const error = topicTypeError(filter)
    if (error !== undefined) return error
  }
  return [...new Set(filters as ReadonlyArray<string>)]
}
