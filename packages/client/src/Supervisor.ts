/**
 * The client's engine: owns the {@link Session}, the session store and the {@link Dispatcher} (whose
 * {@link Subscriptions} own subscription state), keeps one {@link Connection} alive (opened and re-opened
 * by the {@link Dialer}), turns user requests into packets, and hands incoming packets to the
 * {@link Router}. `MqttClient` is the typed API on top of it.
 *
 * All mutable state is touched only in synchronous sections, so fibers never see it half-updated.
 *
 * @since 0.1.0
 */
import type { Packet, ProtocolVersion, Publish, Suback, SubscriptionRequest } from "@aimeqtt/codec"
import { Cause, Deferred, Effect, Exit, Queue, type Scope, type SubscriptionRef } from "effect"
import { AckSequencer } from "./AckSequencer.ts"
import type * as Connection from "./Connection.ts"
import * as Journal from "./Journal.ts"
import * as Lifecycle from "./Lifecycle.ts"
import * as Router from "./Router.ts"
import { Dispatcher, type Subscriber } from "./Dispatcher.ts"
import {
  type AuthenticationFailed,
  ClientClosed,
  ConnectError,
  ConnectionLost,
  type ConnectionFailure,
  type ConnectionRefused,
  OfflineQueueFull,
  SubscriptionRejected,
  type RequestError,
  SessionStoreError,
  UnsubscribeRejected
} from "./errors.ts"
import type { Negotiated } from "./Handshake.ts"
import type { ResolvedOptions } from "./Options.ts"
import { type Completion, type Request, type Resubscribe, Session, type Step } from "./Session.ts"
import { applyNow, SessionStore, type StoreChange, type SynchronousStore } from "./SessionStore.ts"

import type { ConnectionStatus } from "./Lifecycle.ts"

/** @since 0.1.0 */
export type { ConnectionStatus } from "./Lifecycle.ts"

type AnyPacket = Packet<ProtocolVersion>
type Token = Deferred.Deferred<AnyPacket | undefined, RequestError>

/** What `MqttClient` needs from the engine. @since 0.1.0 */
export interface Supervisor {
  readonly dispatcher: Dispatcher
  readonly status: SubscriptionRef.SubscriptionRef<ConnectionStatus>
  /** Sends a request (or queues it while offline) and waits for its acknowledgement. */
  readonly request: (request: Request) => Effect.Effect<AnyPacket | undefined, RequestError>
  /** A QoS 0 publish straight to the connection, succeeding with `written` once written; `undefined` when not connected (use `request`). */
  readonly publishNow: <A>(packet: Publish<ProtocolVersion>, written: Effect.Effect<A>) => Effect.Effect<A, RequestError> | undefined
  /** MQTT 5.0: re-authenticates the connection that is up (see `Connection.reauthenticate`). */
  readonly reauthenticate: Effect.Effect<void, AuthenticationFailed | ConnectionFailure | ClientClosed>
  /** What the connection that is up (or the last one) negotiated; `undefined` before the first CONNACK. */
  readonly negotiated: () => Negotiated | undefined
  /**
   * Sends SUBSCRIBE for a stream registered with `dispatcher.register` and waits for SUBACK. Fails with
   * `SubscriptionRejected` when the broker refuses any of its filters (the caller then releases it).
   */
  readonly subscribe: (subscriber: Subscriber) => Effect.Effect<Suback<ProtocolVersion>, RequestError | SubscriptionRejected>
  /**
   * A stream ended: unregisters it and ends its inbox. With `unsubscribeOnEnd`, the filters no stream uses
   * any more are unsubscribed after the current fiber yields, unless a new stream took them up by then
   * (so an UNSUBSCRIBE never overtakes a SUBSCRIBE for the same filter) or the client is closing (a
   * persistent session keeps its subscriptions).
   */
  readonly release: (subscriber: Subscriber) => Effect.Effect<void>
  /** Waits until no UNSUBSCRIBE for these filters is unanswered (call before `dispatcher.register`). */
  readonly awaitUnsubscribed: (filters: ReadonlyArray<string>) => Effect.Effect<void>
  /** The program unsubscribes: no stream receives through these filters and no reconnect restores them. */
  readonly unsubscribe: (filters: ReadonlyArray<string>) => Effect.Effect<void, RequestError | UnsubscribeRejected>
}

/**
 * The SUBSCRIBEs that carry `requests`. MQTT 5.0 with Subscription Identifiers: one per filter, each with
 * its own identifier (an identifier applies to every filter of its SUBSCRIBE [MQTT-3.8.2.1.2]), so that the
 * copy a broker sends per matching subscription [MQTT-3.3.4-3] goes to the streams of its own filter only
 * (see Subscriptions.route); otherwise one SUBSCRIBE for all (none for no requests).
 */
const subscribeGroups = (
  requests: ReadonlyArray<SubscriptionRequest>,
  identified: boolean
): ReadonlyArray<ReadonlyArray<SubscriptionRequest>> =>
  requests.length === 0 ? [] : identified ? requests.map((r) => [r]) : [requests]

/** The error of a refused SUBACK: the filters, their codes, and the broker's Reason String (MQTT 5.0). */
const rejection = (filters: ReadonlyArray<string>, reasonCodes: ReadonlyArray<number>, suback: Suback<ProtocolVersion>): SubscriptionRejected => {
  const reasonString = "properties" in suback ? suback.properties?.reasonString : undefined
  return new SubscriptionRejected({ filters, reasonCodes, ...(reasonString !== undefined ? { reasonString } : {}) })
}

/**
 * Connects (retrying with the schedule within `connectTimeout`), starts the supervisor fiber and
 * registers the graceful shutdown on the scope.
 *
 * @since 0.1.0
 */
export const make = (options: ResolvedOptions): Effect.Effect<Supervisor, ConnectionRefused | ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const session = new Session<Token>({ maxInflight: options.maxInflight, maxQueued: options.offlineQueueSize })
    const dispatcher = new Dispatcher(options.subscriberBufferSize, {
      persistent: !options.connect.cleanSession,
      unsubscribeOnEnd: options.unsubscribeOnEnd,
      unmatchedCapacity: options.unmatchedBufferSize
    })
    const subscriptions = dispatcher.subscriptions
    /** Runs a log line from a synchronous section, with the client's logger. */
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    /** The connection that is up, if any (the lifecycle's, once it started). */
    let current: () => Connection.Connection | undefined = () => undefined
    let lastNegotiated: Negotiated | undefined
    let closed = false

    // The durable half of the session: restored at start, forgotten for a clean session [MQTT-3.1.2-6].
    const storeFailed = (error: SessionStoreError) => new ConnectError({ message: error.message, cause: error })
    /** A store's Effect, its failure and a throw (a store written without Effects in mind) both a ConnectError. */
    const fromStore = <A, R>(effect: () => Effect.Effect<A, SessionStoreError, R>) =>
      Effect.suspend(effect).pipe(
        Effect.catchDefect((defect) =>
          Effect.fail(new SessionStoreError({ message: `the session store threw: ${defect instanceof Error ? defect.message : String(defect)}`, cause: defect }))
        ),
        Effect.mapError(storeFailed)
      )
    const shape = yield* SessionStore
    const store = yield* fromStore(() => shape.open(options.connect.clientId))
    if (options.connect.cleanSession) yield* fromStore(() => store.clear)
    else session.restore(yield* fromStore(() => store.load))
    const journal = Journal.make(store.apply, runFork, applyNow in store ? (store as SynchronousStore)[applyNow] : undefined)
    // Runs before the store closes (finalizers run in reverse): writes still pending complete first.
    yield* Effect.addFinalizer(() => journal.flushed)

    // --- user requests -> session -> connection -------------------------------------------------
    /**
     * The store failed: nothing of the step is sent and the connection is closed; the flows resume (and
     * are stored again) after the reconnect.
     */
    const storeLost = (error: SessionStoreError) => new ConnectionLost({ message: `the session store failed: ${error.message}`, cause: error })
    const storeFailure = (step: Step<Token>, connection: Connection.Connection | undefined, error: SessionStoreError): void => {
      const lost = storeLost(error)
      connection?.abort(lost)
      for (const completion of step.completed) {
        if (completion.ack === undefined) Deferred.doneUnsafe(completion.token, Exit.fail(lost))
        else complete(completion)
      }
    }

    /**
     * Stores the step's changes (see {@link Journal}): `true` when the step may go on at once, `false`
     * when the store failed, or an Effect that waits for the store and tells which.
     */
    const commit = (step: Step<Token>, connection: Connection.Connection): true | Effect.Effect<boolean> => {
      if (step.changes.length === 0 && journal.idle()) return true
      // A synchronous store answers inside `submit`: no suspension of the reader then.
      let stored: boolean | undefined
      let waiting: ((ok: boolean) => void) | undefined
      journal.submit(step.changes, (error) => {
        if (error !== undefined) storeFailure(step, connection, error)
        if (waiting !== undefined) waiting(error === undefined)
        else stored = error === undefined
      })
      if (stored === true) return true
      if (stored === false) return Effect.succeed(false)
      return Effect.callback<boolean>((resume) => {
        // The write may have completed between `commit` and this Effect's start.
        if (stored !== undefined) resume(Effect.succeed(stored))
        else waiting = (ok) => resume(Effect.succeed(ok))
      })
    }

    /** Completes what the step acknowledged and hands its packets to the connection. */
    const transmit = (step: Step<Token>, connection: Connection.Connection | undefined): void => {
      const afterWrite: Array<Token> = []
      for (const completion of step.completed) {
        if (completion.ack === undefined) afterWrite.push(completion.token)
        else complete(completion)
      }
      if (step.send.length === 0) return
      if (connection === undefined) {
        for (const token of afterWrite) Deferred.doneUnsafe(token, Exit.fail(new ClientClosed()))
        return
      }
      connection.send(
        step.send,
        afterWrite.length === 0 ? undefined : (error) => {
          for (const token of afterWrite) Deferred.doneUnsafe(token, error === undefined ? Exit.succeed(undefined) : Exit.fail(error))
        }
      )
    }

    /** Stores the step's changes, then transmits it (in step order), or fails it when the store failed. */
    const apply = (step: Step<Token>, connection: Connection.Connection | undefined): void =>
      journal.submit(step.changes, (error) => {
        if (error === undefined) transmit(step, connection)
        else storeFailure(step, connection, error)
      })

    const enqueue = (request: Request, token: Token): RequestError | undefined => {
      if (closed) return new ClientClosed()
      const step = session.request(request, token)
      if (step === "full") return new OfflineQueueFull({ capacity: options.offlineQueueSize })
      apply(step, current())
      return undefined
    }

    /**
     * Sends a request (or queues it while offline) and waits for its acknowledgement. `queued` runs once it
     * is accepted, in the same synchronous section; `withdrawn` when it was interrupted while still queued
     * and removed (nothing half-sent is left behind, and no acknowledgement will come).
     */
    const request = (
      request: Request,
      hooks?: { readonly queued?: (token: Token) => void; readonly withdrawn?: (token: Token) => void }
    ): Effect.Effect<AnyPacket | undefined, RequestError> =>
      Effect.suspend(() => {
        const token = Deferred.makeUnsafe<AnyPacket | undefined, RequestError>()
        const error = enqueue(request, token)
        if (error !== undefined) return Effect.fail(error)
        hooks?.queued?.(token)
        return Deferred.await(token).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              if (session.cancel(token)) hooks?.withdrawn?.(token)
              else session.detach(token)
            })
          )
        )
      })

    /**
     * QoS 0 publish while connected: no session state is involved, so it goes straight to the
     * connection (the hot path). Completes once written; interrupted before that, it is skipped.
     */
    const publishNow = <A>(packet: Publish<ProtocolVersion>, written: Effect.Effect<A>): Effect.Effect<A, RequestError> | undefined => {
      const connection = current()
      if (closed || connection === undefined) return undefined
      return Effect.callback<A, RequestError>((resume) => {
        const item = connection.send([packet], (error) => resume(error === undefined ? written : Effect.fail(error)))
        return Effect.sync(() => {
          item.cancelled = true
        })
      })
    }

    // --- subscriptions (the state lives in `Subscriptions`; this turns its answers into packets) ----
    /**
     * Who each SUBSCRIBE in flight is for: a stream, or `undefined` for the re-subscribe after a reconnect.
     * Its SUBACK reaches `Subscriptions` even when the stream stopped waiting for it.
     */
    const subscribing = new Map<Token, Subscriber | undefined>()
    /** The SUBSCRIBEs of the client's own re-subscribe on the current connection (see `connected`). */
    let resubscribeTokens: Array<Token> = []
    /** What each manual-ack stream owes on the current connection (see Router.OwedAcks). */
    const owed: Router.OwedAcks = new Map()

    /** Resolves a request with its acknowledgement; a SUBACK first updates the subscription state. */
    const complete = (completion: Completion<Token>): void => {
      const { ack, request, token } = completion
      if (ack?._tag === "Suback" && request?._tag === "Subscribe" && subscribing.has(token)) {
        const stream = subscribing.get(token)
        subscribing.delete(token)
        const { refused, unwanted } = subscriptions.subacked(request.subscriptions, ack.returnCodes, stream)
        // A stream's own refusal fails its `subscribe` below; a refused re-subscribe fails the streams here.
        const others = refused.filter((refusal) => refusal.stream !== stream)
        for (const refusal of others) {
          const codes = refusal.filters.map((filter) => ack.returnCodes[request.subscriptions.findIndex((r) => r.filter === filter)] ?? 0x80)
          Queue.failCauseUnsafe(refusal.stream.inbox, Cause.fail(rejection(refusal.filters, codes, ack)))
        }
        if (others.length > 0) {
          const filters = [...new Set(others.flatMap((r) => r.filters))].join(", ")
          runFork(Effect.logWarning(
            `MQTT: the broker refused the subscription to ${filters} after a reconnect; ${others.length} stream(s) failed with SubscriptionRejected`
          ))
        }
        if (unwanted.length > 0) sendUnsubscribe(unwanted)
      }
      if (ack?._tag === "Unsuback" && request?._tag === "Unsubscribe") unsubscribed(request.filters)
      if (ack !== undefined) Deferred.doneUnsafe(token, Exit.succeed(ack))
    }

    /** Wakes the streams waiting for an UNSUBACK (see `Subscriptions.awaitsUnsuback`). */
    let unsuback = Deferred.makeUnsafe<void>()
    const unsubscribed = (filters: ReadonlyArray<string>): void => {
      subscriptions.unsubacked(filters)
      const waking = unsuback
      unsuback = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(waking, Exit.void)
    }

    /** Sends (or queues) an UNSUBSCRIBE nobody waits for; its UNSUBACK is counted like any other. */
    const sendUnsubscribe = (filters: ReadonlyArray<string>): void => {
      subscriptions.unsubscribeSent(filters)
      if (enqueue({ _tag: "Unsubscribe", filters }, Deferred.makeUnsafe()) !== undefined) subscriptions.unsubacked(filters)
    }

    const awaitUnsubscribed = (filters: ReadonlyArray<string>): Effect.Effect<void> =>
      Effect.suspend(() =>
        closed || !subscriptions.awaitsUnsuback(filters)
          ? Effect.void
          : Effect.andThen(Deferred.await(unsuback), awaitUnsubscribed(filters))
      )

    const subscribe = (subscriber: Subscriber): Effect.Effect<Suback<ProtocolVersion>, RequestError | SubscriptionRejected> => {
      const identified = lastNegotiated?.subscriptionIdentifiersAvailable === true
      const one = (group: ReadonlyArray<SubscriptionRequest>) =>
        request({
          _tag: "Subscribe",
          subscriptions: group,
          ...(identified ? { subscriptionIdentifier: subscriptions.identify(group.map((r) => r.filter)) } : {})
        }, {
          queued: (token) => subscribing.set(token, subscriber),
          withdrawn: (token) => subscribing.delete(token)
        })
      return Effect.flatMap(
        Effect.forEach(subscribeGroups(subscriber.requests, identified), one, { concurrency: "unbounded" }),
        (acks) => {
          const subacks = acks as ReadonlyArray<Suback<ProtocolVersion>>
          const first = subacks[0] as Suback<ProtocolVersion>
          const suback = (subacks.length === 1 ? first : { ...first, returnCodes: subacks.flatMap((a) => a.returnCodes) }) as Suback<ProtocolVersion>
          // A failure is 0x80 in MQTT 3.1.1, any code from 0x80 up in MQTT 5.0 [MQTT-3.9.3].
          const failed = subscriber.requests.flatMap((r, i) => {
            const code = suback.returnCodes[i] ?? 0x80
            return code >= 0x80 ? [{ filter: r.filter, code }] : []
          })
          // The Reason String of the first SUBACK that refused a filter.
          const refusing = subacks.find((a) => a.returnCodes.some((code) => code >= 0x80)) ?? suback
          return failed.length === 0 ? Effect.succeed(suback) : Effect.fail(rejection(
            failed.map((f) => f.filter),
            failed.map((f) => f.code),
            refusing
          ))
        }
      )
    }

    const release = (subscriber: Subscriber): Effect.Effect<void> =>
      Effect.suspend(() => {
        dispatcher.unregister(subscriber)
        Queue.endUnsafe(subscriber.inbox)
        const abandoned = releaseOwed(subscriber)
        if (!options.unsubscribeOnEnd || closed) return abandoned
        return Effect.andThen(abandoned, unsubscribeReleased)
      })

    /**
     * A manual-ack stream ended (take, timeout, interrupt, failure) owing acknowledgements: they are
     * released now, as if acknowledged, because acknowledgements leave in arrival order [MQTT-4.6.0-2] and
     * one held forever would hold back every later one on the connection. Logged with the count.
     */
    const releaseOwed = (subscriber: Subscriber): Effect.Effect<void> => {
      const releases = owed.get(subscriber)
      owed.delete(subscriber)
      if (releases === undefined || releases.size === 0) return Effect.void
      const count = releases.size
      for (const release of [...releases]) release()
      return Effect.logWarning(
        `MQTT: a manual-ack stream on ${subscriber.requests.map((r) => r.filter).join(", ")} ended with ${count} message(s) ` +
          "it had received but not acknowledged; they were acknowledged so that later messages are not held back [MQTT-4.6.0-2]"
      )
    }

    /**
     * UNSUBSCRIBE for the filters released by their last stream, after a yield: when the client's own
     * scope is closing right behind this stream, it is closed by then and no UNSUBSCRIBE goes out
     * (DISCONNECT only); when a new stream takes the filter up first, nothing goes out either.
     */
    const unsubscribeReleased: Effect.Effect<void> = Effect.asVoid(Effect.forkDetach(Effect.andThen(
      Effect.yieldNow,
      Effect.sync(() => {
        if (closed) return
        const released = subscriptions.takeReleased()
        if (released.length > 0) sendUnsubscribe(released)
      })
    )))

    const unsubscribe = (filters: ReadonlyArray<string>): Effect.Effect<void, RequestError | UnsubscribeRejected> =>
      Effect.flatMap(
        request({ _tag: "Unsubscribe", filters }, {
          queued: () => {
            subscriptions.unsubscribe(filters)
            subscriptions.unsubscribeSent(filters)
          },
          withdrawn: () => unsubscribed(filters) // no UNSUBACK will come
        }),
        (ack) => {
          // MQTT 5.0: one reason code per filter; from 0x80 up the broker refused [MQTT-3.11.3].
          const codes = ack?._tag === "Unsuback" && "reasonCodes" in ack ? ack.reasonCodes : []
          const failed = filters.flatMap((filter, i) => (codes[i] ?? 0) >= 0x80 ? [{ filter, code: codes[i] as number }] : [])
          if (failed.length === 0) return Effect.void
          const reasonString = ack?._tag === "Unsuback" && "properties" in ack ? ack.properties?.reasonString : undefined
          return Effect.fail(
            new UnsubscribeRejected({
              filters: failed.map((f) => f.filter),
              reasonCodes: failed.map((f) => f.code),
              ...(reasonString !== undefined ? { reasonString } : {})
            })
          )
        }
      )

    // --- incoming packets: see Router --------------------------------------------------------------
    const topicAliasMaximum = "properties" in options.connect ? options.connect.properties?.topicAliasMaximum ?? 0 : 0
    const storeThen = (changes: ReadonlyArray<StoreChange>, connection: Connection.Connection, then: () => void): void =>
      journal.submit(changes, (error) => {
        if (error === undefined) then()
        else connection.abort(storeLost(error))
      })
    const route = Router.make({ session, dispatcher, owed, commit, transmit, storeThen, topicAliasMaximum })

    /** A QoS 2 message a manual stream never acknowledged must be delivered again when re-sent. */
    const forgetUnacknowledged = (acks: AckSequencer): void => {
      const changes = acks.clear().flatMap((held) => held.packetId === undefined ? [] : session.forgetIncoming(held.packetId))
      // Should this fail, the id stays stored: a re-delivery is then taken for a duplicate until the next PUBREL.
      if (changes.length > 0) {
        journal.submit(changes, (error) => {
          if (error !== undefined) runFork(Effect.logWarning(`MQTT: the session store failed: ${error.message}`))
        })
      }
    }

    // --- connections: see Lifecycle ------------------------------------------------------------
    const lifecycle = yield* Lifecycle.start(options, {
      connected: (connection) => {
        const resubscribe = subscriptions.connected(connection.sessionPresent)
        // Without a session the previous re-subscribe is dropped by the session: forget its tokens.
        if (!connection.sessionPresent) for (const token of resubscribeTokens) subscribing.delete(token)
        resubscribeTokens = []
        lastNegotiated = connection.negotiated
        const identified = connection.negotiated.subscriptionIdentifiersAvailable
        const resubscribing = subscribeGroups(resubscribe, identified).map((group): Resubscribe<Token> => {
          const token = Deferred.makeUnsafe<AnyPacket | undefined, RequestError>()
          subscribing.set(token, undefined)
          resubscribeTokens.push(token)
          return identified
            ? { subscriptions: group, token, subscriptionIdentifier: subscriptions.identify(group.map((r) => r.filter)) }
            : { subscriptions: group, token }
        })
        apply(session.connected(connection.sessionPresent, resubscribing, connection.negotiated.receiveMaximum), connection)
      },
      handler: (connection) => {
        const acks = new AckSequencer()
        return {
          onPacket: route(connection, acks),
          unansweredSubscriptions: () => session.unansweredSubscriptions(),
          ended: () => {
            owed.clear() // the sequencer's holds die with the connection
            forgetUnacknowledged(acks)
            session.disconnected()
          }
        }
      },
      closed: (cause) =>
        Effect.gen(function*() {
          closed = true
          Deferred.doneUnsafe(unsuback, Exit.void) // streams waiting for an UNSUBACK go on (and fail: ClientClosed)
          for (const token of session.close()) Deferred.doneUnsafe(token, Exit.fail(cause))
          yield* dispatcher.shutdownAll
          // Closed by the program: the streams end. Given up (the reconnect schedule ended): they fail with why.
          if (cause._tag === "ClientClosed") dispatcher.endAll()
          else dispatcher.failAll(cause)
        })
    }, () => {
      closed = true
    })
    current = lifecycle.current
    const status = lifecycle.status

    return {
      dispatcher,
      status,
      request,
      publishNow,
      negotiated: () => lastNegotiated,
      reauthenticate: Effect.suspend((): Effect.Effect<void, AuthenticationFailed | ConnectionFailure | ClientClosed> => {
        if (closed) return Effect.fail(new ClientClosed())
        const connection = current()
        return connection === undefined
          ? Effect.fail(new ConnectionLost({ message: "not connected: the next connection authenticates anyway" }))
          : connection.reauthenticate
      }),
      subscribe,
      release,
      awaitUnsubscribed,
      unsubscribe
    }
  })
