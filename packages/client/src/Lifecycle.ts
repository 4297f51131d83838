/**
 * Keeps one connection alive: the first connection (through the {@link Dialer}), then, each time it
 * ends, a reconnect with the `reconnect` schedule and the broker list, until the schedule gives up or the
 * client closes. Publishes every change on `status`. What a connection means for the protocol (the
 * session, the subscriptions, the packets) belongs to the caller's hooks.
 *
 * @since 0.2.0
 */

import { type Duration, Effect, Exit, Fiber, Scope, SubscriptionRef } from "effect"
import type * as Connection from "./Connection.ts"
import * as Dialer from "./Dialer.ts"
import { ClientClosed, type ConnectError, type ConnectionFailure, ConnectionLost, type ConnectionRefused, type ProtocolError } from "./errors.ts"
import type { Negotiated } from "./Handshake.ts"
import type { ResolvedOptions } from "./Options.ts"

/**
 * The state of the connection, observable through `MqttClient.status`.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionStatus =
  | {
    readonly _tag: "Connected"
    readonly sessionPresent: boolean
    /** What this connection's CONNACK agreed on: limits and capabilities (MQTT 5.0), the keep-alive in force. */
    readonly negotiated: Negotiated
  }
  | { readonly _tag: "Disconnected"; readonly cause: ConnectionFailure | ClientClosed | undefined }
  | { readonly _tag: "Reconnecting"; readonly attempt: number; readonly delay: Duration.Duration } // whole milliseconds

/** What a connection's life means to the caller. All hooks but `closed` are synchronous sections. @since 0.2.0 */
export interface LifecycleHooks {
  /** A connection was accepted (CONNACK 0): it becomes the current one. */
  readonly connected: (connection: Connection.Connection) => void
  /** The packet handler of a connection, made when it starts running. */
  readonly handler: (connection: Connection.Connection) => {
    readonly onPacket: (packet: Connection.AnyPacket) => Effect.Effect<void, ProtocolError>
    /** The connection ended (before the reconnect starts). */
    readonly ended: () => void
    /** The filters of the SUBSCRIBEs still unanswered on it (asked when it ends, before `ended`). */
    readonly unansweredSubscriptions: () => ReadonlyArray<string>
  }
  /** The client gives up (the schedule ended) or closes: fail what waits, end the streams. */
  readonly closed: (cause: ConnectionFailure | ClientClosed) => Effect.Effect<void>
}

/** A running lifecycle. @since 0.2.0 */
export interface Lifecycle {
  readonly status: SubscriptionRef.SubscriptionRef<ConnectionStatus>
  /** The connection that is up, if any. */
  readonly current: () => Connection.Connection | undefined
}

const connectedStatus = (connection: Connection.Connection): ConnectionStatus => ({
  _tag: "Connected",
  sessionPresent: connection.sessionPresent,
  negotiated: connection.negotiated
})

/**
 * Why a connection ended, with the SUBSCRIBEs it left unanswered: a broker that refuses a subscription by
 * closing the connection (RabbitMQ, for a session whose queue lives on a node that is down) shows so on
 * `status` instead of as a plain "connection closed".
 */
const explain = (end: Connection.ConnectionEnd, unanswered: ReadonlyArray<string>): Connection.ConnectionEnd =>
  unanswered.length === 0 || end._tag !== "ConnectionLost" ? end : new ConnectionLost({
    message: `${end.message}, before it answered the SUBSCRIBE to ${unanswered.join(", ")}; a broker may refuse a ` +
      "subscription this way (RabbitMQ does for a session whose queue lives on a cluster node that is down)",
    cause: end
  })

/**
 * Opens the first connection (failing like the layer does), then keeps the connection alive in a
 * fiber. Closing the scope flushes what is queued, sends DISCONNECT [MQTT-3.14] (never UNSUBSCRIBE: a
 * persistent session keeps its subscriptions), stops the fiber and runs `closed` with `ClientClosed`.
 *
 * @since 0.2.0
 */
export const start = (
  options: ResolvedOptions,
  hooks: LifecycleHooks,
  /** Runs first in the scope's finalizer, before anything is flushed (the client refuses new requests). */
  closing: () => void
): Effect.Effect<Lifecycle, ConnectionRefused | ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const dialer = Dialer.make(options)
    let current: Connection.Connection | undefined

    const first = yield* dialer.first
    const status = yield* SubscriptionRef.make<ConnectionStatus>(connectedStatus(first.connection))

    const establish = (connection: Connection.Connection): Effect.Effect<void> =>
      Effect.andThen(
        Effect.sync(() => {
          current = connection
          const assigned = connection.negotiated.assignedClientIdentifier
          if (assigned !== undefined) dialer.assigned(assigned)
          hooks.connected(connection)
        }),
        SubscriptionRef.set(status, connectedStatus(connection))
      )

    /**
     * Runs one connection until it ends; returns why, and whether it settled: the broker sent a packet
     * after CONNACK (an answer, a message, a PINGRESP). A connection closed before that (RabbitMQ closes
     * it on the SUBSCRIBE of a session whose queue lives on a node that is down) does not end the outage.
     */
    const run = (opened: Dialer.Opened) =>
      Effect.gen(function*() {
        const handler = hooks.handler(opened.connection)
        let settled = false
        const onPacket = (packet: Connection.AnyPacket) => {
          settled = true
          return handler.onPacket(packet)
        }
        const unanswered = handler.unansweredSubscriptions
        // Closed by the program (the fiber is interrupted): the connection's end still runs, so that what a
        // manual-ack stream never acknowledged is forgotten and a resumed session delivers it again.
        const closed = yield* Effect.flip(opened.connection.run(onPacket)).pipe(Effect.onInterrupt(() => Effect.sync(handler.ended)))
        const pending = unanswered()
        if (pending.length > 0 && closed._tag === "ConnectionLost") dialer.subscribeRefusedByClose()
        const end = explain(closed, pending)
        yield* Effect.sync(() => {
          current = undefined
          dialer.next()
          handler.ended()
        })
        yield* SubscriptionRef.set(status, { _tag: "Disconnected", cause: end })
        const level = options.connectionLossLogLevel
        if (level !== "None") yield* Effect.logWithLevel(level === "All" ? "Trace" : level)(`MQTT connection lost: ${end.message}`)
        return { end, settled }
      }).pipe(Effect.ensuring(Scope.close(opened.scope, Exit.void)))

    /** Fails everything still waiting and ends every stream. */
    const shutdown = (cause: ConnectionFailure | ClientClosed) =>
      Effect.gen(function*() {
        current = undefined
        // Said once: the connection that ended with this very cause has already reported it.
        const now = yield* SubscriptionRef.get(status)
        if (!(now._tag === "Disconnected" && now.cause === cause)) yield* SubscriptionRef.set(status, { _tag: "Disconnected", cause })
        yield* hooks.closed(cause)
      })

    yield* establish(first.connection)
    const loop = yield* Effect.forkDetach(
      Effect.gen(function*() {
        let next = first
        let outage: Dialer.Outage | undefined
        while (true) {
          const { end, settled } = yield* run(next)
          // MQTT 5.0: a DISCONNECT whose reason says that reconnecting cannot help (the session was taken
          // over by another client with this id, the server moved, ...) ends the client: see DisconnectedByServer.
          if (!end.isRetryable && !(end._tag === "DisconnectedByServer" && dialer.follow(end))) return yield* Effect.fail(end)
          // A fresh schedule per outage; a connection that never settled continues the same one.
          if (settled || outage === undefined) outage = yield* dialer.outage
          next = yield* outage.reconnect(end, (update) => SubscriptionRef.set(status, update))
          yield* establish(next.connection)
        }
      }).pipe(Effect.catch((cause: ConnectionFailure | ClientClosed) => shutdown(cause)))
    )

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const connection = current
        closing()
        if (connection !== undefined) yield* connection.disconnect("5 seconds")
        yield* Fiber.interrupt(loop)
        yield* shutdown(new ClientClosed())
      })
    )

    return { status, current: () => current }
  })
