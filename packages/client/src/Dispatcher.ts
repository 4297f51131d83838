/**
 * Fans incoming messages out to subscription streams.
 *
 * - Dispatch goes through a {@link TopicTrie}, never a scan of every filter.
 * - Each stream has a bounded buffer. When it is full, delivery waits: the connection's reader stops
 *   pulling from the socket and TCP backpressure slows the broker down. Memory stays bounded; a slow
 *   subscriber slows the whole client, which is the documented trade-off.
 * - Filters are reference-counted so the client knows when the last stream on a filter ended and
 *   which subscriptions to restore after the broker lost the session.
 * - Messages that match no open stream (typical right after a persistent session reconnects) wait
 *   in a bounded buffer and go to the first stream that subscribes to a matching filter. When that
 *   buffer is full the oldest message is dropped and a warning is logged.
 *
 * @since 0.1.0
 */
import { matches, TopicTrie, type QoS, type SubscriptionRequest } from "@aimeqtt/codec"
import { Cause, Effect, PubSub, Queue } from "effect"
import type { Message } from "./Message.ts"

/** How many topics {@link Dispatcher} remembers the matching streams of. */
const TARGET_CACHE_SIZE = 1024

/** One subscription stream's inbox. @since 0.1.0 */
export interface Subscriber {
  readonly requests: ReadonlyArray<SubscriptionRequest>
  readonly inbox: Queue.Queue<Message, Cause.Done>
  /** The stream acknowledges each message itself (`ack: "manual"`). */
  readonly manual: boolean
}

/** @since 0.1.0 */
export class Dispatcher {
  readonly #trie = new TopicTrie<Subscriber>()
  /**
   * The streams each recently seen topic goes to, each once: most traffic repeats a few topics, and
   * a hit skips splitting the topic and walking the trie. Emptied whenever a stream is added or
   * removed, and when it holds {@link TARGET_CACHE_SIZE} topics.
   */
  readonly #targets = new Map<string, ReadonlyArray<Subscriber>>()
  readonly #subscribers = new Set<Subscriber>()
  #manualSubscribers = 0
  readonly #refs = new Map<string, { count: number; qos: QoS }>()
  readonly #unmatchedCapacity: number
  #unmatched: Array<Message> = []
  #droppedUnmatched = 0
  #droppedTotal = 0
  /** Every incoming message, for `MqttClient.messages`: made when first asked for (it preallocates its buffer). */
  #all: PubSub.PubSub<Message> | undefined
  readonly #allCapacity: number

  constructor(allCapacity: number, unmatchedCapacity: number) {
    this.#allCapacity = allCapacity
    this.#unmatchedCapacity = unmatchedCapacity
  }

  /** The PubSub behind `MqttClient.messages`. */
  readonly all: Effect.Effect<PubSub.PubSub<Message>> = Effect.suspend(() => {
    if (this.#all !== undefined) return Effect.succeed(this.#all)
    return Effect.map(PubSub.bounded<Message>(this.#allCapacity), (pubsub) => {
      this.#all ??= pubsub
      return this.#all
    })
  })

  /** Ends `MqttClient.messages` streams. */
  readonly shutdownAll: Effect.Effect<void> = Effect.suspend(() => this.#all === undefined ? Effect.void : PubSub.shutdown(this.#all))

  /** Adds a stream; returns the buffered messages it matches (removed from the buffer). */
  register(subscriber: Subscriber): Array<Message> {
    this.#targets.clear()
    this.#subscribers.add(subscriber)
    if (subscriber.manual) this.#manualSubscribers++
    for (const { filter, qos } of subscriber.requests) {
      if (!this.#trie.add(filter, subscriber)) continue // a filter listed twice counts once
      const ref = this.#refs.get(filter)
      if (ref === undefined) this.#refs.set(filter, { count: 1, qos })
      else {
        ref.count++
        ref.qos = Math.max(ref.qos, qos) as QoS
      }
    }
    if (this.#unmatched.length === 0) return []
    const taken: Array<Message> = []
    this.#unmatched = this.#unmatched.filter((message) => {
      const hit = subscriber.requests.some(({ filter }) => matches(filter, message.topic))
      if (hit) taken.push(message)
      return !hit
    })
    return taken
  }

  /** Removes a stream; returns the filters no stream uses any more. */
  unregister(subscriber: Subscriber): Array<string> {
    this.#targets.clear()
    if (this.#subscribers.delete(subscriber) && subscriber.manual) this.#manualSubscribers--
    const released: Array<string> = []
    for (const { filter } of subscriber.requests) {
      if (!this.#trie.remove(filter, subscriber)) continue
      const ref = this.#refs.get(filter)
      if (ref === undefined) continue
      if (--ref.count === 0) {
        this.#refs.delete(filter)
        released.push(filter)
      }
    }
    return released
  }

  /** Whether some open stream acknowledges manually. */
  get hasManual(): boolean {
    return this.#manualSubscribers > 0
  }

  /** Ends every stream (the client closed): their inboxes drain, then the streams complete. */
  endAll(): void {
    for (const subscriber of this.#subscribers) Queue.endUnsafe(subscriber.inbox)
  }

  /** Whether any open stream uses this filter. */
  isActive(filter: string): boolean {
    return this.#refs.has(filter)
  }

  /** The subscriptions to restore when the broker has no session: each filter at its highest QoS. */
  active(): Array<SubscriptionRequest> {
    return Array.from(this.#refs, ([filter, { qos }]) => ({ filter, qos }))
  }

  /**
   * Delivers one message to every matching stream, once per stream; waits while an inbox is full.
   * Manual-ack streams get `forManual(subscriber)` instead (the message with its `ack`).
   */
  dispatch(message: Message, forManual?: (subscriber: Subscriber) => Message): Effect.Effect<void> {
    const targets = this.#targetsOf(message.topic)
    let pending: Array<[Subscriber, Message]> | undefined
    let warning: Effect.Effect<void> | undefined
    if (targets.length === 0) warning = this.#keepUnmatched(message)
    for (const target of targets) {
      const delivered = target.manual && forManual !== undefined ? forManual(target) : message
      // full (or closed: offer returns at once)
      if (!Queue.offerUnsafe(target.inbox, delivered)) (pending ??= []).push([target, delivered])
    }
    const all = this.#all
    const toAll = all === undefined || PubSub.publishUnsafe(all, message)
    if (pending === undefined && toAll) return warning ?? Effect.void
    return Effect.gen(function*() {
      // Slow path: some inbox is full; wait for room (backpressure on the socket reader).
      for (const [target, delivered] of pending ?? []) yield* Queue.offer(target.inbox, delivered)
      if (!toAll && all !== undefined) yield* PubSub.publish(all, message)
    })
  }

  /** The streams `topic` goes to, each once (a stream may hold several matching filters). */
  #targetsOf(topic: string): ReadonlyArray<Subscriber> {
    const cached = this.#targets.get(topic)
    if (cached !== undefined) return cached
    const matched = this.#trie.match(topic)
    const targets = matched.length > 1 ? Array.from(new Set(matched)) : matched
    if (this.#targets.size >= TARGET_CACHE_SIZE) this.#targets.clear()
    this.#targets.set(topic, targets)
    return targets
  }

  /** Keeps a message no stream wants; when the buffer is full the oldest goes, with a warning (the 1st, then every 1000th). */
  #keepUnmatched(message: Message): Effect.Effect<void> | undefined {
    if (this.#unmatchedCapacity <= 0) return undefined
    let warning: Effect.Effect<void> | undefined
    if (this.#unmatched.length >= this.#unmatchedCapacity) {
      const dropped = this.#unmatched.shift()
      this.#droppedUnmatched++
      this.#droppedTotal++
      if (this.#droppedTotal === 1 || this.#droppedTotal % 1000 === 0) {
        warning = Effect.logWarning(
          `MQTT: no stream subscribed to ${dropped?.topic ?? "?"}; the buffer of ${this.#unmatchedCapacity} unmatched messages is full, ` +
            `the oldest was dropped (${this.#droppedTotal} so far; see unmatchedBufferSize)`
        )
      }
    }
    this.#unmatched.push(message)
    return warning
  }

  /** Messages dropped from the unmatched buffer because it was full since the last call (each drop is also logged, rate-limited). */
  takeDroppedCount(): number {
    const n = this.#droppedUnmatched
    this.#droppedUnmatched = 0
    return n
  }
}
