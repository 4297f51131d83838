/**
 * The one owner of subscription state. For each topic filter it knows:
 * - the open streams attached to it, and the QoS each asked for;
 * - what the broker has been asked: `subscribing` (SUBSCRIBE sent, no SUBACK yet), `subscribed`
 *   (granted), `releasing` (the last stream ended; UNSUBSCRIBE is due unless a stream comes back first);
 *   a filter the program let go of (UNSUBSCRIBE sent, refused, or lost with the session) is *ended*;
 * - what to send after a reconnect without a session;
 * - which streams a refused SUBACK fails;
 * - whether an incoming message has a home (streams), waits for one (a persistent session's message that
 *   arrived before its stream re-subscribed), or is dropped (the tail of a subscription that ended).
 *
 * Pure code: no sockets, no clocks, no Effect runtime. The caller turns the answers into packets (through
 * `Session`, which sends SUBSCRIBE and UNSUBSCRIBE in the order they were requested) and into stream
 * events. `S` is the caller's stream handle, `M` its message.
 *
 * Why one owner: when the reference counts, the deferred UNSUBSCRIBE, the re-subscribe list and the
 * unmatched buffer lived in different modules, an UNSUBSCRIBE could overtake a new SUBSCRIBE for the same
 * filter, a reconnect could undo an explicit `unsubscribe`, a refused re-subscribe went unnoticed and an
 * ended subscription's tail was replayed to a later one.
 *
 * A shared subscription, `$share/{group}/{filter}` [MQTT-4.8.2], is one filter like any other for what
 * the broker is asked (SUBSCRIBE, UNSUBSCRIBE and the re-subscribe use the exact string), and is routed by
 * the filter after the group: the broker sends its messages with their real topic (`jobs/a`).
 *
 * @since 0.2.0
 */
import { matches, matchingFilter, type ProtocolVersion, type QoS, type SubscriptionRequest as AnyVersionRequest, TopicTrie } from "@aimeqtt/codec"

/** A filter with its QoS (and, in MQTT 5.0, its subscription options). */
type SubscriptionRequest = AnyVersionRequest<ProtocolVersion>

/** Options of {@link Subscriptions}. @since 0.2.0 */
export interface SubscriptionsOptions {
  /**
   * The client keeps a session across connections (`cleanSession: false`): messages that match no open
   * stream and no ended filter wait for the first stream that subscribes to them (a restored session's
   * messages arrive right after CONNACK, before the program re-opened its streams).
   */
  readonly persistent: boolean
  /** When the last stream on a filter ends, the broker is asked to UNSUBSCRIBE (after {@link Subscriptions.takeReleased}). */
  readonly unsubscribeOnEnd: boolean
  /** Messages kept for streams not opened yet; beyond it the oldest is dropped. */
  readonly unmatchedCapacity: number
}

/** What the broker was asked about a filter that is still in use. @since 0.2.0 */
export type BrokerState = "subscribing" | "subscribed" | "releasing"

/**
 * Where an incoming message goes:
 * - `Deliver`: to these streams (each once);
 * - `Buffered`: no stream yet; kept for the next matching stream. `evicted` is the oldest message, dropped
 *   to make room (the buffer was full);
 * - `Dropped`: no home. `ended`: the tail of a subscription the program ended (the broker may deliver
 *   messages it had sent before its UNSUBACK [MQTT-3.10.4-3]); `no-stream`: no open stream matches, and
 *   the session is clean (or the buffer has no room at all), so nothing would ever claim it.
 *
 * @since 0.2.0
 */
export type Route<S, M> =
  | { readonly _tag: "Deliver"; readonly streams: ReadonlyArray<S> }
  | { readonly _tag: "Buffered"; readonly evicted: M | undefined }
  | { readonly _tag: "Dropped"; readonly reason: "ended" | "no-stream" }

/** A stream that a refused SUBACK ends, and the filters that were refused. @since 0.2.0 */
export interface Refusal<S> {
  readonly stream: S
  readonly filters: ReadonlyArray<string>
}

interface FilterState<S> {
  readonly streams: Map<S, QoS>
  broker: BrokerState
  /** The latest request for it: its MQTT 5.0 options are what the broker holds [MQTT-3.8.4-3], and what a re-subscribe asks again. */
  latest: SubscriptionRequest
}

/** How many topics the routing cache remembers the streams of. */
const ROUTE_CACHE_SIZE = 1024

/** @since 0.2.0 */
/** The MQTT 5.0 Subscription Identifiers a message arrived with [MQTT-3.3.2.3.8], if any. */
type WithIdentifiers = {
  readonly topic: string
  readonly properties?: { readonly subscriptionIdentifiers?: ReadonlyArray<number> } | undefined
}

/** The largest Subscription Identifier [MQTT-3.8.2.1.2]. */
const MAX_SUBSCRIPTION_IDENTIFIER = 268_435_455

export class Subscriptions<S, M extends WithIdentifiers> {
  readonly #options: SubscriptionsOptions
  readonly #filters = new Map<string, FilterState<S>>()
  /** The filters each open stream is attached to (a stream leaves a filter on close, refusal or `unsubscribe`). */
  readonly #streams = new Map<S, Set<string>>()
  /** Open streams by filter, for routing. */
  readonly #trie = new TopicTrie<S>()
  /** How many of each stream's filters route through each trie key (see `#route`). */
  readonly #routeCounts = new Map<string, Map<S, number>>()
  /** Filters the program let go of and has not subscribed to again: their late messages are dropped. */
  readonly #ended = new TopicTrie<string>()
  readonly #endedFilters = new Set<string>()
  /** Recent topics' streams: most traffic repeats a few topics. Emptied whenever attachments change. */
  readonly #routes = new Map<string, ReadonlyArray<S>>()
  /** The same for messages that carry one Subscription Identifier (MQTT 5.0): identifier → topic → streams. */
  readonly #routesById = new Map<number, Map<string, ReadonlyArray<S>>>()
  #unmatched: Array<M> = []
  /**
   * MQTT 5.0 Subscription Identifiers the client gave its SUBSCRIBEs, and the filters each was sent with. A
   * message carries the identifiers of the subscriptions it matched [MQTT-3.3.4-3], so it goes to the
   * streams of those filters only: a stream with No Local on `a/b` does not get the client's own message
   * that arrived for an overlapping `a/#`.
   */
  readonly #identified = new Map<number, Set<string>>()
  /**
   * Starts anywhere: a persistent session's broker keeps the identifiers of an earlier process on its
   * subscriptions and queued messages, and the same numbers must rarely name other filters now.
   */
  #nextIdentifier = 1 + Math.floor(Math.random() * (MAX_SUBSCRIPTION_IDENTIFIER - 1))
  /** UNSUBSCRIBEs sent (or queued) and not answered yet, per filter. */
  readonly #unsubscribing = new Map<string, number>()

  constructor(options: SubscriptionsOptions) {
    this.#options = options
  }

  /**
   * A new stream on `requests`. The caller sends SUBSCRIBE for all of them (even a filter already
   * subscribed: its SUBACK starts the stream, and the broker re-sends retained messages [MQTT-3.8.4-3]).
   * A filter whose UNSUBSCRIBE was due but not yet sent stays subscribed: no UNSUBSCRIBE will overtake
   * this SUBSCRIBE. Returns the buffered messages the stream matches (removed from the buffer).
   */
  open(stream: S, requests: ReadonlyArray<SubscriptionRequest>): Array<M> {
    this.#clearRoutes()
    let attached = this.#streams.get(stream)
    if (attached === undefined) this.#streams.set(stream, attached = new Set())
    for (const request of requests) {
      const { filter, qos } = request
      if (attached.has(filter)) continue // a filter listed twice counts once
      attached.add(filter)
      this.#route(filter, stream)
      this.#unend(filter)
      const state = this.#filters.get(filter)
      if (state === undefined) this.#filters.set(filter, { streams: new Map([[stream, qos]]), broker: "subscribing", latest: request })
      else {
        state.streams.set(stream, qos)
        state.latest = request
        if (state.broker === "releasing") state.broker = "subscribed"
      }
    }
    if (this.#unmatched.length === 0) return []
    const taken: Array<M> = []
    this.#unmatched = this.#unmatched.filter((message) => {
      const hit = this.#trie.match(message.topic).includes(stream)
      if (hit) taken.push(message)
      return !hit
    })
    return taken
  }

  /**
   * The SUBACK for `requests`. `stream` is the stream whose own SUBSCRIBE it answers (its refusal fails
   * that stream only: other streams on the filter keep the subscription they had); `undefined` for the
   * client's re-subscribe after a reconnect without a session, whose refusal fails every stream on the
   * refused filter. Filters that are granted become `subscribed`; other filters of the same packet are
   * not affected by a refusal.
   *
   * Returns the streams to fail, with the filters refused for each, and the filters that nobody wants but
   * the broker may hold (granted after their stream ended while the SUBSCRIBE was in flight, perhaps
   * re-sent after a reconnect; or refused to the last stream on them): the caller sends UNSUBSCRIBE for
   * those, so the broker converges to what the program asked.
   */
  subacked(
    requests: ReadonlyArray<SubscriptionRequest>,
    returnCodes: ReadonlyArray<number>,
    stream?: S
  ): { readonly refused: Array<Refusal<S>>; readonly unwanted: Array<string> } {
    const refused = new Map<S, Array<string>>()
    const unwanted: Array<string> = []
    requests.forEach(({ filter }, i) => {
      // 0x80 in MQTT 3.1.1; every code from 0x80 up in MQTT 5.0 [MQTT-3.9.3].
      const granted = (returnCodes[i] ?? 0x80) < 0x80
      const state = this.#filters.get(filter)
      if (state === undefined) {
        if (granted && this.#endedFilters.has(filter) && !unwanted.includes(filter)) unwanted.push(filter)
        return
      }
      if (granted) {
        if (state.broker === "subscribing") state.broker = "subscribed"
        return
      }
      const losers = stream === undefined ? [...state.streams.keys()] : state.streams.has(stream) ? [stream] : []
      for (const loser of losers) {
        this.#detach(loser, filter)
        const list = refused.get(loser)
        if (list === undefined) refused.set(loser, [filter])
        else list.push(filter)
      }
      if (state.streams.size > 0 && stream !== undefined) return
      // A stream's refused SUBSCRIBE and no stream left on the filter: the broker may still hold an earlier
      // grant (of another stream, or of this SUBSCRIBE before a reconnect re-sent it), so it is asked to
      // UNSUBSCRIBE (answered even when it holds nothing [MQTT-3.10.4-5]). A refused re-subscribe follows a
      // lost session: nothing is held.
      if (stream !== undefined && !unwanted.includes(filter)) unwanted.push(filter)
      this.#end(filter)
    })
    return { refused: Array.from(refused, ([s, filters]) => ({ stream: s, filters })), unwanted }
  }

  /**
   * A stream ended. Its filters that no stream uses any more become `releasing` when `unsubscribeOnEnd`
   * (see {@link Subscriptions.takeReleased}); otherwise the broker keeps them (a persistent session's
   * messages then wait in the buffer for the next stream).
   */
  close(stream: S): void {
    const attached = this.#streams.get(stream)
    if (attached === undefined) return
    this.#streams.delete(stream)
    this.#clearRoutes()
    for (const filter of attached) {
      this.#unroute(filter, stream)
      const state = this.#filters.get(filter)
      if (state === undefined) continue
      state.streams.delete(stream)
      if (state.streams.size > 0 || !this.#options.unsubscribeOnEnd) continue
      state.broker = "releasing"
      this.#markEnded(filter) // its tail is dropped from now on, whether or not the UNSUBSCRIBE went out yet
    }
  }

  /**
   * The filters whose UNSUBSCRIBE is due now: released by their last stream and not taken up again since.
   * They are ended (their late messages are dropped). The caller sends one UNSUBSCRIBE for them.
   */
  takeReleased(): Array<string> {
    const released: Array<string> = []
    for (const [filter, state] of this.#filters) {
      if (state.broker === "releasing" && state.streams.size === 0) released.push(filter)
    }
    for (const filter of released) this.#end(filter)
    return released
  }

  /**
   * The program unsubscribed explicitly. The streams on these filters stay open but receive nothing more
   * through them, and no reconnect subscribes to them again, until a new stream subscribes.
   */
  unsubscribe(filters: ReadonlyArray<string>): void {
    for (const filter of filters) {
      const state = this.#filters.get(filter)
      if (state !== undefined) for (const stream of [...state.streams.keys()]) this.#detach(stream, filter)
      this.#end(filter)
    }
  }

  /**
   * A connection came up. Without a session the broker forgot every subscription [MQTT-3.1.2-6]: returns
   * what to subscribe to again, each granted filter that an open stream uses, at the highest QoS its
   * streams asked for. Filters whose first SUBSCRIBE is still unanswered are not listed (that SUBSCRIBE is
   * sent again with the session's unfinished requests); those without streams are ended.
   */
  connected(sessionPresent: boolean): Array<SubscriptionRequest> {
    if (sessionPresent) return []
    const resubscribe: Array<SubscriptionRequest> = []
    for (const [filter, state] of [...this.#filters]) {
      if (state.streams.size === 0) this.#end(filter)
      else if (state.broker === "subscribed") resubscribe.push({ ...state.latest, qos: maxQos(state.streams) })
    }
    return resubscribe
  }

  /** Where an incoming message goes (see {@link Route}); a buffered message is kept here. */
  /** The latest request for `filter` while some stream is open on it (its MQTT 5.0 options are the broker's). */
  openRequest(filter: string): SubscriptionRequest | undefined {
    const state = this.#filters.get(filter)
    return state !== undefined && state.streams.size > 0 ? state.latest : undefined
  }

  /**
   * A Subscription Identifier for a SUBSCRIBE of `filters` (MQTT 5.0, when the broker supports them): the
   * broker tags every message with the identifiers of the subscriptions it matched, and {@link route}
   * follows them. A later SUBSCRIBE of the same filter replaces its identifier at the broker [MQTT-3.8.4-3].
   */
  identify(filters: ReadonlyArray<string>): number {
    const id = this.#nextIdentifier
    this.#nextIdentifier = id === MAX_SUBSCRIPTION_IDENTIFIER ? 1 : id + 1
    this.#identified.set(id, new Set(filters))
    this.#clearRoutes()
    return id
  }

  route(message: M): Route<S, M> {
    const ids = message.properties?.subscriptionIdentifiers
    const streams = ids !== undefined && this.#identified.size > 0 ? this.#streamsByIdentifier(message.topic, ids) : this.#streamsOf(message.topic)
    if (streams.length > 0) return { _tag: "Deliver", streams }
    if (this.#ended.match(message.topic).length > 0 && !this.#heldByBroker(message.topic)) {
      return { _tag: "Dropped", reason: "ended" }
    }
    if (!this.#options.persistent || this.#options.unmatchedCapacity <= 0) return { _tag: "Dropped", reason: "no-stream" }
    const evicted = this.#unmatched.length >= this.#options.unmatchedCapacity ? this.#unmatched.shift() : undefined
    this.#unmatched.push(message)
    return { _tag: "Buffered", evicted }
  }

  /** The caller sent (or queued) an UNSUBSCRIBE for these filters. */
  unsubscribeSent(filters: ReadonlyArray<string>): void {
    for (const filter of filters) this.#unsubscribing.set(filter, (this.#unsubscribing.get(filter) ?? 0) + 1)
  }

  /** Its UNSUBACK arrived, or the UNSUBSCRIBE was withdrawn before it went out. */
  unsubacked(filters: ReadonlyArray<string>): void {
    for (const filter of filters) {
      const n = (this.#unsubscribing.get(filter) ?? 0) - 1
      if (n > 0) this.#unsubscribing.set(filter, n)
      else this.#unsubscribing.delete(filter)
    }
  }

  /**
   * Whether an UNSUBSCRIBE for one of these filters is still unanswered. A new stream on such a filter
   * waits for the UNSUBACK before it opens and subscribes: until then the broker may still deliver the
   * old subscription's messages [MQTT-3.10.4-3], and some brokers (aedes) apply an UNSUBSCRIBE whose
   * UNSUBACK comes after a later SUBSCRIBE's SUBACK last, which would leave the new stream silent.
   */
  awaitsUnsuback(filters: ReadonlyArray<string>): boolean {
    return this.#unsubscribing.size > 0 && filters.some((filter) => this.#unsubscribing.has(filter))
  }

  /** The broker's view of a filter still in use (`undefined` when none: never asked, or ended). */
  stateOf(filter: string): BrokerState | undefined {
    return this.#filters.get(filter)?.broker
  }

  /** Whether the program let go of this filter (and has not subscribed to it again). */
  isEnded(filter: string): boolean {
    return this.#endedFilters.has(filter)
  }

  /** The filters an open stream is attached to. */
  filtersOf(stream: S): ReadonlyArray<string> {
    return [...(this.#streams.get(stream) ?? [])]
  }

  /** Every open stream. */
  get streams(): ReadonlyArray<S> {
    return [...this.#streams.keys()]
  }

  /** Messages waiting for a stream. */
  get buffered(): number {
    return this.#unmatched.length
  }

  /** Whether a subscription of this client that the broker may still hold (not ended) matches `topic`. */
  #heldByBroker(topic: string): boolean {
    for (const [filter, state] of this.#filters) {
      if (state.broker !== "releasing" && state.streams.size === 0 && matches(matchingFilter(filter), topic)) return true
    }
    return false
  }

  #streamsOf(topic: string): ReadonlyArray<S> {
    const cached = this.#routes.get(topic)
    if (cached !== undefined) return cached
    const matched = this.#trie.match(topic)
    const streams = matched.length > 1 ? Array.from(new Set(matched)) : matched
    if (this.#routes.size >= ROUTE_CACHE_SIZE) this.#routes.clear() // (only the topic cache)
    this.#routes.set(topic, streams)
    return streams
  }

  /**
   * Routes `filter`'s messages to `stream` in the trie, keyed by the filter messages match
   * ({@link matchingFilter}). Two filters of one stream may share that key (`c` and `$share/g/c`, or two
   * groups on one filter): the trie holds the stream once, so it leaves only with the last of them.
   */
  #route(filter: string, stream: S): void {
    const key = matchingFilter(filter)
    let counts = this.#routeCounts.get(key)
    if (counts === undefined) this.#routeCounts.set(key, counts = new Map())
    const n = counts.get(stream) ?? 0
    counts.set(stream, n + 1)
    if (n === 0) this.#trie.add(key, stream)
  }

  #unroute(filter: string, stream: S): void {
    const key = matchingFilter(filter)
    const counts = this.#routeCounts.get(key)
    const n = counts?.get(stream) ?? 0
    if (counts === undefined || n === 0) return
    if (n > 1) return void counts.set(stream, n - 1)
    counts.delete(stream)
    if (counts.size === 0) this.#routeCounts.delete(key)
    this.#trie.remove(key, stream)
  }

  #detach(stream: S, filter: string): void {
    this.#clearRoutes()
    if (this.#streams.get(stream)?.delete(filter) === true) this.#unroute(filter, stream) // once per attachment
    this.#filters.get(filter)?.streams.delete(stream)
  }

  /** The filter is let go of: forgotten, and its late messages are dropped until it is subscribed again. */
  /**
   * The streams of the filters the message's identifiers name (and that match its topic). Identifiers that
   * name no filter of this client matching the topic (an earlier process's, kept by a persistent session
   * with its queued messages; or a broker that invents them) fall back to the topic trie.
   */
  #streamsByIdentifier(topic: string, ids: ReadonlyArray<number>): ReadonlyArray<S> {
    const id = ids.length === 1 ? ids[0] as number : undefined
    // The usual case, one identifier of ours: cached like the routes by topic.
    if (id === undefined || !this.#identified.has(id)) return this.#matchIdentified(topic, ids)
    let byTopic = this.#routesById.get(id)
    const cached = byTopic?.get(topic)
    if (cached !== undefined) return cached
    const streams = this.#matchIdentified(topic, ids)
    if (byTopic === undefined) this.#routesById.set(id, byTopic = new Map())
    if (byTopic.size >= ROUTE_CACHE_SIZE) byTopic.clear()
    byTopic.set(topic, streams)
    return streams
  }

  #clearRoutes(): void {
    this.#routes.clear()
    this.#routesById.clear()
  }

  /**
   * The streams of a message that carries Subscription Identifiers: those of the filters of its identifiers
   * that match the topic. The client gives every filter its own identifier (one SUBSCRIBE per filter), so a
   * broker that sends a copy per matching subscription [MQTT-3.3.4-3] (mosquitto does) reaches each stream
   * once per filter of that stream that matches: streams on different filters (`a/#`, `a/b`) get one copy
   * each, also after a reconnect without a session. A stream on two filters that both match still gets two:
   * taking one of them would lose messages from a broker that sends a single copy with the identifier of
   * one matching subscription only (mosquitto does for messages it queued while the client was away,
   * against [MQTT-3.3.4-4]). Identifiers this client never gave (an earlier process's) fall back to the topic.
   */
  #matchIdentified(topic: string, ids: ReadonlyArray<number>): ReadonlyArray<S> {
    const streams = new Set<S>()
    let known = false
    for (const id of ids) {
      const filters = this.#identified.get(id)
      if (filters === undefined) continue
      for (const filter of filters) {
        if (!matches(matchingFilter(filter), topic)) continue
        known = true
        const state = this.#filters.get(filter)
        if (state !== undefined) for (const stream of state.streams.keys()) streams.add(stream)
      }
    }
    return known ? [...streams] : this.#streamsOf(topic)
  }

  #end(filter: string): void {
    this.#clearRoutes()
    for (const [id, filters] of this.#identified) {
      if (filters.delete(filter) && filters.size === 0) this.#identified.delete(id)
    }
    const state = this.#filters.get(filter)
    if (state !== undefined) for (const stream of [...state.streams.keys()]) this.#detach(stream, filter)
    this.#filters.delete(filter)
    this.#markEnded(filter)
  }

  #markEnded(filter: string): void {
    if (this.#endedFilters.has(filter)) return
    this.#endedFilters.add(filter)
    this.#ended.add(matchingFilter(filter), filter)
  }

  #unend(filter: string): void {
    if (this.#endedFilters.delete(filter)) this.#ended.remove(matchingFilter(filter), filter)
  }
}

const maxQos = <S>(streams: ReadonlyMap<S, QoS>): QoS => {
  let qos = 0
  for (const q of streams.values()) if (q > qos) qos = q
  return qos as QoS
}
