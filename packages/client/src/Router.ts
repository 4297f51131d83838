/**
 * Where each packet from the broker goes, with every fast path in one place:
 * - QoS 0 PUBLISH with no manual-ack stream: straight to the streams (no session state, no acknowledgement);
 * - everything else through the {@link Session}: its changes are stored first (an incoming QoS 2 id is
 *   durable before the message is delivered), then the message is dispatched, then the acknowledgement
 *   goes out, once the message is in every matching stream's buffer;
 * - with a manual-ack stream open, every acknowledgement goes through the {@link AckSequencer}, so they
 *   leave in arrival order [MQTT-4.6.0-2].
 *
 * The router owns no state: the session, the dispatcher and the store belong to the client's engine.
 *
 * @since 0.2.0
 */
import type { Packet } from "@aimeqtt/codec"
import { Effect } from "effect"
import type { AckSequencer } from "./AckSequencer.ts"
import type * as Connection from "./Connection.ts"
import type { Dispatcher, Subscriber } from "./Dispatcher.ts"
import { ProtocolError } from "./errors.ts"
import { AckableMessage, Message } from "./Message.ts"
import type { Session, Step } from "./Session.ts"

/**
 * The acknowledgements each manual-ack stream still owes on the current connection: one release function
 * per message it received and has not acknowledged. When the stream ends, the engine releases them, so
 * they do not hold back every later acknowledgement [MQTT-4.6.0-2].
 *
 * @since 0.2.0
 */
export type OwedAcks = Map<Subscriber, Set<() => void>>

/** What the router needs from the engine. @since 0.2.0 */
export interface RouterDeps<T> {
  readonly owed: OwedAcks
  readonly session: Session<T>
  readonly dispatcher: Dispatcher
  /** Stores the step's changes; `false` when the store failed (the connection is then closed). */
  readonly commit: (step: Step<T>, connection: Connection.Connection) => boolean
  /** Completes what the step acknowledged and hands its packets to the connection. */
  readonly transmit: (step: Step<T>, connection: Connection.Connection) => void
}

/**
 * The packet handler of one connection (with that connection's acknowledgement sequencer). Fails with
 * `ProtocolError` when the broker broke the protocol.
 *
 * @since 0.2.0
 */
export const make = <T>({ commit, dispatcher, owed, session, transmit }: RouterDeps<T>) =>
(connection: Connection.Connection, acks: AckSequencer) =>
(packet: Packet): Effect.Effect<void, ProtocolError> => {
  if (packet._tag === "Publish" && packet.qos === 0 && !dispatcher.hasManual) {
    // QoS 0 has no session state and no acknowledgement: straight to the streams (the hot path).
    return dispatcher.dispatch(new Message(packet.topic, packet.payload, 0, packet.retain, packet.dup))
  }
  const step = session.received(packet)
  if (step.violation !== undefined) return Effect.fail(new ProtocolError({ message: step.violation }))
  // Stored first: an incoming QoS 2 id must be durable before the message is delivered.
  if (!commit(step, connection)) return Effect.void
  const p = step.deliver
  if (p === undefined) {
    transmit(step, connection)
    return step.notice === undefined ? Effect.void : Effect.logWarning(`MQTT: ${step.notice}`)
  }
  const message = new Message(p.topic, p.payload, p.qos, p.retain, p.dup)
  if (!dispatcher.hasManual && acks.isEmpty) {
    // Fast path. The acknowledgement goes out once the message is in every matching stream's buffer.
    const delivered = dispatcher.dispatch(message)
    if (delivered === Effect.void) {
      transmit(step, connection)
      return Effect.void
    }
    return Effect.andThen(delivered, Effect.sync(() => transmit(step, connection)))
  }
  // Some stream acknowledges manually: every acknowledgement goes through the sequencer, in order.
  const held = acks.hold(step.send, p.qos === 2 ? p.packetId : undefined)
  const sendReady = (packets: ReadonlyArray<Packet>) => {
    if (packets.length > 0) connection.send(packets)
  }
  const withAck = (subscriber: Subscriber): Message => {
    acks.addHolder(held)
    let done = false
    let owedBy = owed.get(subscriber)
    if (owedBy === undefined) owed.set(subscriber, owedBy = new Set())
    const release = (): void => {
      if (done) return
      done = true
      owed.get(subscriber)?.delete(release)
      sendReady(acks.release(held))
    }
    owedBy.add(release)
    return new AckableMessage(message, Effect.sync(release))
  }
  return Effect.andThen(dispatcher.dispatch(message, withAck), Effect.sync(() => sendReady(acks.seal(held))))
}
