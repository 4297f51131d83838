/**
 * Fans incoming messages out to subscription streams.
 *
 * - Where a message goes ({@link Subscriptions.route}) is decided by the one owner of subscription
 *   state, {@link Subscriptions}: open streams through a topic trie, a persistent session's early
 *   messages into a bounded buffer, the tail of an ended subscription nowhere (counted and logged).
 * - Each stream has a bounded buffer. When it is full, delivery waits: the connection's reader stops
 *   pulling from the socket and TCP backpressure slows the broker down. Memory stays bounded; a slow
 *   subscriber slows the whole client, which is the documented trade-off.
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Effect, Exit, PubSub, Queue } from "effect"
import type { SubscriptionRequest } from "@aimeqtt/codec"
import type { ConnectionFailure, SubscriptionRejected } from "./errors.ts"
import type { Message } from "./Message.ts"
import { type Route, Subscriptions, type SubscriptionsOptions } from "./Subscriptions.ts"

/** One subscription stream's inbox: ends when the stream is released, fails when the broker refuses its filter. @since 0.1.0 */
export interface Subscriber {
  readonly requests: ReadonlyArray<SubscriptionRequest>
  readonly inbox: Queue.Queue<Message, SubscriptionRejected | ConnectionFailure | Cause.Done>
  /** The stream acknowledges each message itself (`ack: "manual"`). */
  readonly manual: boolean
  /**
   * The program cannot read the stream yet (its SUBSCRIBE is unanswered): messages that find its inbox
   * full wait in `overflow` instead of stopping the socket reader, which must go on to reach the SUBACK.
   */
  opening?: boolean
  /** Messages behind a full inbox, in order, while opening and until {@link Dispatcher.opened}'s drain moved them. */
  overflow?: Array<Message> | undefined
  /** Completed once `overflow` is drained (or the stream ended). */
  drained?: Deferred.Deferred<void> | undefined
}

/** The overflow is drained or dropped (the stream ended): later messages go to the inbox again. */
const endOverflow = (subscriber: Subscriber): void => {
  const drained = subscriber.drained
  subscriber.overflow = undefined
  subscriber.drained = undefined
  if (drained !== undefined) Deferred.doneUnsafe(drained, Exit.void)
}

/** Messages dropped so far, by why. @since 0.2.0 */
export interface Drops {
  /** Evicted from the full buffer of messages waiting for a stream (see `unmatchedBufferSize`). */
  readonly evicted: number
  /** Late messages of a subscription the program ended [MQTT-3.10.4-3]. */
  readonly ended: number
  /** Messages no open stream matches, in a clean session (or with `unmatchedBufferSize` 0). */
  readonly "no-stream": number
}

/** @since 0.1.0 */
export class Dispatcher {
  /** The owner of subscription state; `register`, `unregister` and `dispatch` go through it. */
  readonly subscriptions: Subscriptions<Subscriber, Message>
  readonly #manual = new Set<Subscriber>()
  readonly #unmatchedCapacity: number
  readonly #drops = { evicted: 0, ended: 0, "no-stream": 0 }
  /** Every incoming message, for `MqttClient.messages`: made when first asked for (it preallocates its buffer). */
  #all: PubSub.PubSub<Message> | undefined
  readonly #allCapacity: number

  constructor(allCapacity: number, options: SubscriptionsOptions) {
    this.#allCapacity = allCapacity
    this.#unmatchedCapacity = options.unmatchedCapacity
    this.subscriptions = new Subscriptions(options)
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
    if (subscriber.manual) this.#manual.add(subscriber)
    return this.subscriptions.open(subscriber, subscriber.requests)
  }

  /** Removes a stream (its filters may become due for UNSUBSCRIBE: {@link Subscriptions.takeReleased}). */
  unregister(subscriber: Subscriber): void {
    this.#manual.delete(subscriber)
    this.subscriptions.close(subscriber)
    endOverflow(subscriber)
  }

  /**
   * The program may read the stream now (its SUBACK came): returns the Effect that moves the messages
   * held in its overflow into its inbox, in order and with backpressure, or `undefined` when none wait.
   * Messages that arrive meanwhile queue behind them.
   */
  opened(subscriber: Subscriber): Effect.Effect<void> | undefined {
    subscriber.opening = false
    const overflow = subscriber.overflow
    if (overflow === undefined) return undefined
    return Effect.gen(function*() {
      for (let i = 0; i < overflow.length; i++) yield* Queue.offer(subscriber.inbox, overflow[i] as Message)
      endOverflow(subscriber)
    }).pipe(Effect.onInterrupt(() => Effect.sync(() => endOverflow(subscriber))))
  }

  /** Whether some open stream acknowledges manually. */
  get hasManual(): boolean {
    return this.#manual.size > 0
  }

  /** Ends every stream (the client closed): their inboxes drain, then the streams complete. */
  endAll(): void {
    for (const subscriber of this.subscriptions.streams) Queue.endUnsafe(subscriber.inbox)
  }

  /** Fails every stream with `cause` (the client gave up reconnecting): their inboxes drain, then they fail. */
  failAll(cause: ConnectionFailure): void {
    for (const subscriber of this.subscriptions.streams) Queue.failCauseUnsafe(subscriber.inbox, Cause.fail(cause))
  }

  /** Messages dropped so far, by why (each kind is also logged: the first, then every 1000th). */
  get drops(): Drops {
    return { ...this.#drops }
  }

  /**
   * Delivers one message to every matching stream, once per stream; waits while an inbox is full.
   * Manual-ack streams get `forManual(subscriber)` instead (the message with its `ack`).
   */
  dispatch(message: Message, forManual?: (subscriber: Subscriber) => Message): Effect.Effect<void> {
    const route = this.subscriptions.route(message)
    const targets = route._tag === "Deliver" ? route.streams : []
    let pending: Array<[Subscriber, Message]> | undefined
    const warning = route._tag === "Deliver" ? undefined : this.#dropped(message, route)
    for (const target of targets) {
      const delivered = target.manual && forManual !== undefined ? forManual(target) : message
      if (target.overflow !== undefined) {
        // Behind the messages already held, in order: kept while opening, else waits for the drain.
        if (target.opening === true) target.overflow.push(delivered)
        else (pending ??= []).push([target, delivered])
      } else if (!Queue.offerUnsafe(target.inbox, delivered)) {
        // Full (or closed: offer returns at once). A stream the program cannot read yet must not stop
        // the reader before the SUBACK: the message is held (bounded by what the broker had queued).
        if (target.opening === true) {
          target.overflow = [delivered]
          target.drained = Deferred.makeUnsafe<void>()
        } else (pending ??= []).push([target, delivered])
      }
    }
    const all = this.#all
    const toAll = all === undefined || PubSub.publishUnsafe(all, message)
    if (pending === undefined && toAll) return warning ?? Effect.void
    return Effect.gen(function*() {
      // Slow path: some inbox is full; wait for room (backpressure on the socket reader).
      for (const [target, delivered] of pending ?? []) {
        if (target.drained !== undefined) yield* Deferred.await(target.drained)
        yield* Queue.offer(target.inbox, delivered)
      }
      if (!toAll && all !== undefined) yield* PubSub.publish(all, message)
    })
  }

  /** Counts a message that found no stream and logs it (the first of each kind, then every 1000th). */
  #dropped(message: Message, route: Exclude<Route<Subscriber, Message>, { readonly _tag: "Deliver" }>): Effect.Effect<void> | undefined {
    if (route._tag === "Buffered") {
      if (route.evicted === undefined) return undefined
      const n = ++this.#drops.evicted
      if (n !== 1 && n % 1000 !== 0) return undefined
      return Effect.logWarning(
        `MQTT: no stream subscribed to ${route.evicted.topic}; the buffer of ${this.#unmatchedCapacity} unmatched messages is full, ` +
          `the oldest was dropped (${n} so far; see unmatchedBufferSize)`
      )
    }
    const n = ++this.#drops[route.reason]
    if (n !== 1 && n % 1000 !== 0) return undefined
    return route.reason === "ended"
      ? Effect.logDebug(
        `MQTT: dropped a message on ${message.topic} that the broker sent before it acknowledged the UNSUBSCRIBE [MQTT-3.10.4-3] ` +
          `(${n} so far)`
      )
      : Effect.logWarning(
        `MQTT: dropped a message on ${message.topic}: no open stream matches it, and with a clean session (or ` +
          `unmatchedBufferSize 0) no later stream may take it (${n} so far)`
      )
  }
}
