/**
 * The MQTT session state machine: packet identifiers, in-flight tables, the queue of requests that
 * wait for the connection or for a free in-flight slot, and what to (re)send on (re)connect.
 *
 * Pure code: no sockets, no clocks, no Effect runtime. Every input (a user request, a packet from the
 * broker, a connection coming up or going down) returns a {@link Step} saying what to send and which
 * requests completed. The caller attaches an opaque `token` to each request (the client uses a
 * `Deferred`) and gets it back when the request completes, so this module never needs to know how
 * completions are delivered.
 *
 * @since 0.1.0
 */
import type { Packet, ProtocolVersion, Publish, QoS, SubscriptionRequest, Suback } from "@aimeqtt/codec"
import type { PublishProperties, StoreChange, StoredFlow, StoredSession } from "./SessionStore.ts"

type AnyPacket = Packet<ProtocolVersion>
type AnyPublish = Publish<ProtocolVersion>
type AnySubscriptionRequest = SubscriptionRequest<ProtocolVersion>

export type { StoreChange, StoredFlow, StoredSession } from "./SessionStore.ts"

/** A request from the user: a publish (without packet id), a subscribe or an unsubscribe. @since 0.1.0 */
export type Request =
  | {
    readonly _tag: "Publish"
    readonly topic: string
    readonly payload: Uint8Array
    readonly qos: QoS
    readonly retain: boolean
    readonly properties?: PublishProperties
  }
  | { readonly _tag: "Subscribe"; readonly subscriptions: ReadonlyArray<AnySubscriptionRequest>; readonly subscriptionIdentifier?: number }
  | { readonly _tag: "Unsubscribe"; readonly filters: ReadonlyArray<string> }

/**
 * One SUBSCRIBE of the client's own re-subscribe after a reconnect without a session: its filters, the
 * token its SUBACK completes, and (MQTT 5.0) its Subscription Identifier.
 *
 * @since 0.5.0
 */
export interface Resubscribe<T> {
  readonly subscriptions: ReadonlyArray<AnySubscriptionRequest>
  readonly token?: T
  readonly subscriptionIdentifier?: number
}

/**
 * The packet that completed a request: PUBACK, PUBCOMP, SUBACK or UNSUBACK; `undefined` for QoS 0.
 * `request` is the request it answers (given for acknowledged requests).
 *
 * @since 0.1.0
 */
export type Completion<T> = { readonly token: T; readonly ack: AnyPacket | undefined; readonly request?: Request }

/**
 * What the caller must do after an input.
 * - `changes`: durable-state changes, to store before anything is sent.
 * - `send`: packets to write, in order.
 * - `completed`: requests whose flow is over (QoS 0 publishes complete once `send` is written).
 * - `deliver`: an incoming message to hand to subscribers (before sending its acknowledgement).
 * - `violation`: the broker broke the protocol; the connection must be closed.
 * - `notice`: the broker did something the program should hear of, though the flow went on (a warning).
 *
 * @since 0.1.0
 */
export interface Step<T> {
  readonly changes: Array<StoreChange>
  readonly send: Array<AnyPacket>
  readonly completed: Array<Completion<T>>
  deliver?: AnyPublish
  violation?: string
  notice?: string
}

type Stage = "queued" | "sent" | "released"

interface Entry<T> {
  request: Request
  readonly token: T | undefined // undefined: nobody waits for it
  /** The client's own re-subscribe after a reconnect without a session (replaced by the next one). */
  readonly resubscribe?: true
  packetId: number
  stage: Stage
  /** A QoS 1/2 publish sent on the current connection and not finished: it takes a slot of the window. */
  onWire?: boolean
}

/** Limits of a session. @since 0.1.0 */
export interface SessionOptions {
  /** QoS 1 and 2 publishes in flight at once; later ones wait in the queue (see also {@link Session.connected}'s `receiveMaximum`). */
  readonly maxInflight: number
  /** Requests that may wait while disconnected; beyond it `request` answers `"full"`. */
  readonly maxQueued: number
}

const emptyStep = <T>(): Step<T> => ({ changes: [], send: [], completed: [] })

/**
 * One client's protocol state, kept across connections (and, with a persistent session, across
 * reconnects to the broker's stored session).
 *
 * @since 0.1.0
 */
export class Session<T> {
  readonly #options: SessionOptions
  #connected = false
  #queue: Array<Entry<T>> = []
  readonly #inflight = new Map<number, Entry<T>>() // insertion order = send order [MQTT-4.6.0-1]
  /** QoS 1/2 publishes on the wire of the current connection (at most the window [MQTT-3.3.4-7]). */
  #onWire = 0
  /** Unfinished publishes of an earlier connection still to re-send on this one, when the window has room. */
  #unsent: Array<Entry<T>> = []
  #sessionPresent = false
  readonly #incomingQos2 = new Set<number>() // ids received at QoS 2, waiting for PUBREL
  #nextId = 1
  #downgraded = 0 // QoS 2 publishes the broker answered with PUBACK
  /** Publishes in flight at most: `maxInflight`, or less when the broker's Receive Maximum is lower [MQTT-3.3.4-7]. */
  #window: number

  constructor(options: SessionOptions) {
    this.#options = options
    this.#window = options.maxInflight
  }

  /**
   * Loads flows left by an earlier run (from a {@link StoredSession}); nobody waits for them, they are
   * finished on the next `connected`. Call before the first `connected`.
   */
  restore(stored: StoredSession): void {
    for (const flow of stored.outgoing) {
      const request: Request = {
        _tag: "Publish",
        topic: flow.topic,
        payload: flow.payload,
        qos: flow.qos,
        retain: flow.retain,
        ...(flow.properties !== undefined ? { properties: flow.properties } : {})
      }
      this.#inflight.set(flow.packetId, { request, token: undefined, packetId: flow.packetId, stage: flow.stage })
      this.#nextId = flow.packetId === 65535 ? 1 : flow.packetId + 1
    }
    for (const id of stored.incoming) this.#incomingQos2.add(id)
  }

  /** Whether a connection is up (between `connected` and `disconnected`). */
  get isConnected(): boolean {
    return this.#connected
  }
  /** Requests waiting for the connection or an in-flight slot. */
  get queued(): number {
    return this.#queue.length
  }
  /** Packets sent and not yet acknowledged. */
  get inflight(): number {
    return this.#inflight.size
  }
  /** Packet ids of incoming QoS 2 messages whose PUBREL has not arrived yet. */
  get incomingQos2(): ReadonlySet<number> {
    return this.#incomingQos2
  }

  /**
   * A new request. Sent at once when connected (and, for QoS 1/2, an in-flight slot is free),
   * otherwise queued. Answers `"full"` when disconnected and `maxQueued` requests already wait.
   */
  request(request: Request, token: T): Step<T> | "full" {
    if (!this.#connected && this.#queue.length >= this.#options.maxQueued) return "full"
    const step = emptyStep<T>()
    const entry: Entry<T> = { request, token, packetId: 0, stage: "queued" }
    if (this.#connected && this.#canSend(entry) && !(needsWindow(request) && (this.#unsent.length > 0 || this.#queue.some(isWindowed)))) {
      this.#send(entry, step)
    } else {
      this.#queue.push(entry)
    }
    return step
  }

  /** Removes a request that is still queued (not sent). Returns false when it is already on the wire. */
  cancel(token: T): boolean {
    const index = this.#queue.findIndex((entry) => entry.token === token)
    if (index < 0) return false
    this.#queue.splice(index, 1)
    return true
  }

  /**
   * The caller of a publish already on the wire stopped waiting (interrupted, e.g. by a timeout). The flow
   * goes on [MQTT-4.4.0-1], with a copy of its payload: the caller may reuse its buffer now, and what is
   * sent again after a reconnect must still be the message it published.
   */
  detach(token: T): void {
    for (const entry of this.#inflight.values()) {
      if (entry.token === token && entry.request._tag === "Publish") {
        entry.request = { ...entry.request, payload: entry.request.payload.slice() }
        return
      }
    }
  }

  /**
   * The connection is up (CONNACK accepted). Returns, in order: a SUBSCRIBE per `resubscribe` entry (only
   * when the broker has no session), then every unacknowledged flow, then the queue. Each entry's `token`
   * completes with its SUBSCRIBE's SUBACK, so that a refused filter can fail its streams.
   */
  connected(sessionPresent: boolean, resubscribe: ReadonlyArray<Resubscribe<T>>, receiveMaximum = 65535): Step<T> {
    this.#connected = true
    // The broker's Receive Maximum bounds this connection's window [MQTT-3.3.4-7], resumed flows included.
    this.#window = Math.max(1, Math.min(this.#options.maxInflight, receiveMaximum))
    const step = emptyStep<T>()
    if (!sessionPresent) {
      for (const [id, entry] of this.#inflight) {
        // A re-subscribe of an earlier connection: the new one below replaces it. (With a session
        // present it is re-sent like any unacknowledged SUBSCRIBE: the broker may never have seen it.)
        if (entry.resubscribe === true) this.#inflight.delete(id)
      }
    }
    const unfinished = [...this.#inflight.values()]
    if (!sessionPresent) {
      // The broker lost the session: it forgot our subscriptions and its half of every flow.
      if (this.#incomingQos2.size > 0) step.changes.push({ _tag: "ClearIncoming" })
      this.#incomingQos2.clear()
      for (const { subscriptionIdentifier, subscriptions, token } of resubscribe) {
        if (subscriptions.length === 0) continue
        const request: Request = {
          _tag: "Subscribe",
          subscriptions,
          ...(subscriptionIdentifier !== undefined ? { subscriptionIdentifier } : {})
        }
        this.#send({ request, token, resubscribe: true, packetId: 0, stage: "queued" }, step)
      }
    }
    this.#sessionPresent = sessionPresent
    this.#onWire = 0
    this.#unsent = []
    for (const entry of unfinished) {
      entry.onWire = false
      // Re-sent in order, as many publishes as this connection's window takes; the rest as slots free up,
      // before any new one [MQTT-3.3.4-7][MQTT-4.6.0-1].
      if (needsWindow(entry.request) && (this.#onWire >= this.#window || this.#unsent.length > 0)) this.#unsent.push(entry)
      else this.#resendNow(entry, step)
    }
    this.#drainQueue(step)
    return step
  }

  /** Re-sends an unfinished flow on this connection (stored again first, idempotent: a store that failed earlier is caught up). */
  #resendNow(entry: Entry<T>, step: Step<T>): void {
    step.send.push(this.#resend(entry, this.#sessionPresent))
    if (needsWindow(entry.request)) {
      entry.onWire = true
      this.#onWire++
    }
    const flow = storedFlow(entry)
    if (flow !== undefined) step.changes.push({ _tag: "PutOutgoing", flow })
  }

  /**
   * Forgets an incoming QoS 2 id whose message was never acknowledged by a manual-ack stream, so the
   * broker's re-delivery after a reconnect is delivered again instead of being taken for a duplicate.
   */
  forgetIncoming(packetId: number): Array<StoreChange> {
    return this.#incomingQos2.delete(packetId) ? [{ _tag: "DeleteIncoming", packetId }] : []
  }

  /** The connection is gone. In-flight flows stay, to be resumed by the next `connected`. */
  /** The filters of every SUBSCRIBE sent on the current connection and not answered yet, in order. */
  unansweredSubscriptions(): ReadonlyArray<string> {
    const filters: Array<string> = []
    for (const entry of this.#inflight.values()) {
      if (entry.request._tag === "Subscribe" && entry.stage === "sent") {
        for (const { filter } of entry.request.subscriptions) filters.push(filter)
      }
    }
    return filters
  }

  disconnected(): void {
    this.#connected = false
  }

  /** Ends the session: returns the tokens of every request that will never complete. */
  close(): Array<T> {
    const tokens: Array<T> = []
    for (const entry of [...this.#queue, ...this.#inflight.values()]) if (entry.token !== undefined) tokens.push(entry.token)
    this.#queue = []
    this.#inflight.clear()
    this.#onWire = 0
    this.#unsent = []
    this.#connected = false
    return tokens
  }

  /** A packet from the broker (after CONNACK). */
  received(packet: AnyPacket): Step<T> {
    const step = emptyStep<T>()
    switch (packet._tag) {
      case "Publish":
        return this.#incomingPublish(packet, step)
      case "Pubrel":
        // Forget the id whether or not we know it: PUBREL may be re-sent after a reconnect [MQTT-4.3.3-2].
        if (this.#incomingQos2.delete(packet.packetId)) step.changes.push({ _tag: "DeleteIncoming", packetId: packet.packetId })
        step.send.push({ _tag: "Pubcomp", packetId: packet.packetId })
        return step
      case "Puback": {
        const entry = this.#inflight.get(packet.packetId)
        if (entry?.request._tag === "Publish" && entry.request.qos === 2 && entry.stage !== "released") {
          // RabbitMQ 3.10 answers a QoS 2 PUBLISH with PUBACK and delivers the message at QoS 1: the broker
          // took it, and no PUBREC will ever come. Treating it as a protocol violation closed the connection,
          // and the reconnect re-sent the PUBLISH to the same answer, for ever. It completes the publish as
          // QoS 1 (at least once), with a notice.
          const n = ++this.#downgraded
          if (n === 1 || n % 1000 === 0) {
            step.notice = `the broker answered a QoS 2 PUBLISH (packet id ${packet.packetId}) with PUBACK instead of PUBREC ` +
              "[MQTT-4.3.3]: it accepted the message at QoS 1, so it is delivered at least once, not exactly once " +
              `(RabbitMQ does this; ${n} so far)`
          }
          return this.#complete(entry, packet, step)
        }
        return this.#acknowledged(packet.packetId, packet, "Publish", 1, step)
      }
      case "Pubrec": {
        const entry = this.#inflight.get(packet.packetId)
        if (entry === undefined || entry.request._tag !== "Publish" || entry.request.qos !== 2) {
          return violation(step, `PUBREC for packet id ${packet.packetId}, which is no QoS 2 publish in flight`)
        }
        if ("reasonCode" in packet && packet.reasonCode >= 0x80) {
          // MQTT 5.0: the broker refused the message; the flow ends here, with no PUBREL [MQTT-4.3.3-4].
          return entry.stage === "released"
            ? violation(step, `PUBREC refusing packet id ${packet.packetId} after its PUBREL`)
            : this.#complete(entry, packet, step)
        }
        if (entry.stage !== "released") {
          entry.stage = "released" // the broker owns the message now [MQTT-4.3.3-1]
          const flow = storedFlow(entry)
          if (flow !== undefined) step.changes.push({ _tag: "PutOutgoing", flow })
        }
        step.send.push({ _tag: "Pubrel", packetId: packet.packetId })
        return step
      }
      case "Pubcomp":
        return this.#acknowledged(packet.packetId, packet, "Publish", 2, step)
      case "Suback":
        return this.#suback(packet, step)
      case "Unsuback":
        return this.#acknowledged(packet.packetId, packet, "Unsubscribe", undefined, step)
      case "Pingresp":
        return step
      default:
        return violation(step, `unexpected ${packet._tag.toUpperCase()} from the broker`)
    }
  }

  #incomingPublish(packet: AnyPublish, step: Step<T>): Step<T> {
    if (packet.qos === 0 || packet.packetId === undefined) {
      step.deliver = packet
    } else if (packet.qos === 1) {
      step.deliver = packet
      step.send.push({ _tag: "Puback", packetId: packet.packetId }) // [MQTT-4.3.2-2]
    } else {
      // Deliver on first receipt, remember the id until PUBREL so a re-sent PUBLISH is not
      // delivered twice [MQTT-4.3.3-2] (method B of figure 4.3).
      if (!this.#incomingQos2.has(packet.packetId)) {
        this.#incomingQos2.add(packet.packetId)
        step.changes.push({ _tag: "AddIncoming", packetId: packet.packetId })
        step.deliver = packet
      }
      step.send.push({ _tag: "Pubrec", packetId: packet.packetId })
    }
    return step
  }

  #suback(packet: Suback<ProtocolVersion>, step: Step<T>): Step<T> {
    const entry = this.#inflight.get(packet.packetId)
    if (entry?.request._tag === "Subscribe" && packet.returnCodes.length !== entry.request.subscriptions.length) {
      // [MQTT-3.8.4-5]: one return code per requested filter.
      return violation(step, `SUBACK has ${packet.returnCodes.length} return codes for ${entry.request.subscriptions.length} filters`)
    }
    return this.#acknowledged(packet.packetId, packet, "Subscribe", undefined, step)
  }

  #acknowledged(packetId: number, ack: AnyPacket, kind: Request["_tag"], qos: QoS | undefined, step: Step<T>): Step<T> {
    const entry = this.#inflight.get(packetId)
    const matches = entry !== undefined && entry.request._tag === kind &&
      (qos === undefined || (entry.request._tag === "Publish" && entry.request.qos === qos)) &&
      (qos !== 2 || entry.stage === "released")
    if (!matches) return violation(step, `${ack._tag.toUpperCase()} for packet id ${packetId}, which is not in flight`)
    return this.#complete(entry, ack, step)
  }

  /** The flow of `entry` is over: forget it, complete its request, let the next one go. */
  #complete(entry: Entry<T>, ack: AnyPacket, step: Step<T>): Step<T> {
    this.#inflight.delete(entry.packetId)
    if (entry.onWire === true) {
      entry.onWire = false
      this.#onWire--
    }
    if (entry.request._tag === "Publish") step.changes.push({ _tag: "DeleteOutgoing", packetId: entry.packetId })
    if (entry.token !== undefined) step.completed.push({ token: entry.token, ack, request: entry.request })
    this.#drainQueue(step) // a slot may have opened
    return step
  }

  #canSend(entry: Entry<T>): boolean {
    const request = entry.request
    if (request._tag === "Publish" && request.qos === 0) return true
    if (this.#inflight.size >= 65535) return false // every packet id is taken
    return !needsWindow(request) || this.#onWire < this.#window
  }

  #drainQueue(step: Step<T>): void {
    if (!this.#connected) return
    while (this.#unsent.length > 0 && this.#onWire < this.#window) this.#resendNow(this.#unsent.shift() as Entry<T>, step)
    const waiting: Array<Entry<T>> = []
    let windowBlocked = this.#unsent.length > 0
    for (const entry of this.#queue) {
      // Windowed publishes keep their order: once one waits, the later ones wait too.
      const windowed = needsWindow(entry.request)
      if ((windowed && windowBlocked) || !this.#canSend(entry)) {
        windowBlocked ||= windowed
        waiting.push(entry)
      } else {
        this.#send(entry, step)
      }
    }
    this.#queue = waiting
  }

  #send(entry: Entry<T>, step: Step<T>): void {
    const request = entry.request
    if (request._tag === "Publish" && request.qos === 0) {
      step.send.push(this.#packetOf(entry, false))
      if (entry.token !== undefined) step.completed.push({ token: entry.token, ack: undefined })
      return
    }
    entry.packetId = this.#allocateId()
    entry.stage = "sent"
    this.#inflight.set(entry.packetId, entry)
    if (request._tag === "Publish") {
      entry.onWire = true
      this.#onWire++
    }
    const flow = storedFlow(entry)
    if (flow !== undefined) step.changes.push({ _tag: "PutOutgoing", flow })
    step.send.push(this.#packetOf(entry, false))
  }

  #resend(entry: Entry<T>, sessionPresent: boolean): AnyPacket {
    if (!sessionPresent) {
      entry.stage = "sent" // the broker forgot the flow: start it again
      return this.#packetOf(entry, false)
    }
    // Same order, DUP set on re-sent PUBLISH, PUBREL for released QoS 2 flows [MQTT-4.4.0-1].
    return entry.stage === "released" ? { _tag: "Pubrel", packetId: entry.packetId } : this.#packetOf(entry, true)
  }

  #packetOf(entry: Entry<T>, dup: boolean): AnyPacket {
    const request = entry.request
    const packetId = entry.packetId
    switch (request._tag) {
      case "Publish": {
        const packet: { -readonly [K in keyof AnyPublish]: AnyPublish[K] } = {
          _tag: "Publish",
          topic: request.topic,
          payload: request.payload,
          qos: request.qos,
          retain: request.retain,
          dup
        }
        if (request.qos > 0) packet.packetId = packetId
        if (request.properties !== undefined) (packet as { properties?: PublishProperties }).properties = request.properties
        return packet
      }
      case "Subscribe":
        return request.subscriptionIdentifier === undefined
          ? { _tag: "Subscribe", packetId, subscriptions: request.subscriptions } as AnyPacket
          : { _tag: "Subscribe", packetId, subscriptions: request.subscriptions, properties: { subscriptionIdentifier: request.subscriptionIdentifier } } as AnyPacket
      case "Unsubscribe":
        return { _tag: "Unsubscribe", packetId, filters: request.filters }
    }
  }

  /** The next id not in flight [MQTT-2.3.1-2]; ids cycle through 1..65535 [MQTT-2.3.1-1]. */
  #allocateId(): number {
    while (this.#inflight.has(this.#nextId)) this.#nextId = this.#nextId === 65535 ? 1 : this.#nextId + 1
    const id = this.#nextId
    this.#nextId = id === 65535 ? 1 : id + 1
    return id
  }
}

const storedFlow = <T>(entry: Entry<T>): StoredFlow | undefined => {
  const request = entry.request
  if (request._tag !== "Publish" || request.qos === 0 || entry.stage === "queued") return undefined
  return {
    packetId: entry.packetId,
    stage: entry.stage,
    topic: request.topic,
    payload: request.payload,
    qos: request.qos,
    retain: request.retain,
    ...(request.properties !== undefined ? { properties: request.properties } : {})
  }
}

const needsWindow = (request: Request): boolean => request._tag === "Publish" && request.qos > 0
const isWindowed = <T>(entry: Entry<T>): boolean => needsWindow(entry.request)

const violation = <T>(step: Step<T>, message: string): Step<T> => {
  step.violation = message
  return step
}
