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
import type { Packet, ProtocolVersion, Publish } from "@aimeqtt/codec"
import { Effect } from "effect"
import type { AckSequencer, Ready } from "./AckSequencer.ts"
import type * as Connection from "./Connection.ts"
import type { Dispatcher, Subscriber } from "./Dispatcher.ts"
import { ProtocolError } from "./errors.ts"
import { AckableMessage, Message, type MessageProperties } from "./Message.ts"
import type { Session, Step } from "./Session.ts"
import type { StoreChange } from "./SessionStore.ts"

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
  /**
   * Stores the step's changes: `true` when the step may go on at once, or an Effect that waits for the
   * store and succeeds with `false` when it failed (the connection is then closed).
   */
  readonly commit: (step: Step<T>, connection: Connection.Connection) => true | Effect.Effect<boolean>
  /** Completes what the step acknowledged and hands its packets to the connection. */
  readonly transmit: (step: Step<T>, connection: Connection.Connection) => void
  /**
   * Stores `changes` and then runs `then`, in order with every other step (no changes: once the steps
   * before are stored); when the store fails, the connection is closed instead.
   */
  readonly storeThen: (changes: ReadonlyArray<StoreChange>, connection: Connection.Connection, then: () => void) => void
  /** The Topic Alias Maximum the client sent in CONNECT (MQTT 5.0; 0: the broker may use none). */
  readonly topicAliasMaximum: number
}

type AnyPacket = Packet<ProtocolVersion>
type AnyPublish = Publish<ProtocolVersion>

/**
 * MQTT 5.0 incoming Topic Aliases of one connection [MQTT-3.3.2.3.4]: a PUBLISH with a topic and an alias
 * sets the alias; one with an empty topic and an alias stands for the alias's topic. Returns the PUBLISH with
 * its topic (and without the alias), or why it breaks the rules. Aliases never outlive their connection
 * [MQTT-3.3.2-7].
 */
const resolveAlias = (aliases: Map<number, string>, maximum: number, packet: AnyPublish): AnyPublish | ProtocolError => {
  if (!("properties" in packet) || packet.properties?.topicAlias === undefined) return packet
  const { topicAlias, ...properties } = packet.properties
  if (topicAlias > maximum) {
    // [MQTT-3.3.2-10]: above the client's Topic Alias Maximum (0: the client accepts none).
    return new ProtocolError({
      message: `PUBLISH with Topic Alias ${topicAlias}, above the client's Topic Alias Maximum ${maximum} [MQTT-3.3.2-10]`,
      reasonCode: 0x94
    })
  }
  let topic = packet.topic
  if (topic === "") {
    const known = aliases.get(topicAlias)
    if (known === undefined) {
      return new ProtocolError({ message: `PUBLISH with an empty topic and Topic Alias ${topicAlias}, which was never set on this connection (section 3.3.2.3.4)`, reasonCode: 0x82 })
    }
    topic = known
  } else {
    aliases.set(topicAlias, topic)
  }
  const { properties: _, ...rest } = packet
  return Object.keys(properties).length === 0 ? { ...rest, topic } : { ...rest, topic, properties }
}

/** A received PUBLISH as the message streams get. */
const messageOf = (p: AnyPublish): Message =>
  new Message(p.topic, p.payload, p.qos, p.retain, p.dup, "properties" in p ? (p.properties as MessageProperties | undefined) : undefined)

/**
 * The packet handler of one connection (with that connection's acknowledgement sequencer). Fails with
 * `ProtocolError` when the broker broke the protocol.
 *
 * @since 0.2.0
 */
export const make = <T>(deps: RouterDeps<T>) =>
(connection: Connection.Connection, acks: AckSequencer) => {
  const aliases = new Map<number, string>()
  const v5 = connection.negotiated.protocolVersion === 5
  return (received: AnyPacket): Effect.Effect<void, ProtocolError> => {
    let packet = received
    if (v5 && packet._tag === "Publish") {
      const resolved = resolveAlias(aliases, deps.topicAliasMaximum, packet)
      if (resolved instanceof ProtocolError) return Effect.fail(resolved)
      packet = resolved
    }
    return handle(deps, packet, connection, acks)
  }
}

const handle = <T>(
  deps: RouterDeps<T>,
  packet: AnyPacket,
  connection: Connection.Connection,
  acks: AckSequencer
): Effect.Effect<void, ProtocolError> => {
  const { commit, dispatcher, session } = deps
  if (packet._tag === "Publish" && packet.qos === 0 && !dispatcher.hasManual) {
    // QoS 0 has no session state and no acknowledgement: straight to the streams (the hot path).
    return dispatcher.dispatch(messageOf(packet))
  }
  const step = session.received(packet)
  if (step.violation !== undefined) return Effect.fail(new ProtocolError({ message: step.violation }))
  const manual = dispatcher.hasManual || !acks.isEmpty
  // A QoS 2 message for a manual-ack stream: its id is stored when the program acknowledges it, just
  // before the PUBREC, so a crash before that lets the broker's re-delivery through [MQTT-4.3.3-2].
  const deferred = manual && step.deliver?.qos === 2 ? step.changes.splice(0) : []
  // Stored first: an incoming QoS 2 id must be durable before the message is delivered.
  const stored = commit(step, connection)
  if (stored === true) return proceed(deps, step, connection, acks, manual, deferred)
  return Effect.flatMap(stored, (ok) => ok ? proceed(deps, step, connection, acks, manual, deferred) : Effect.void)
}

/** A received packet's step once its changes are stored: the message delivered, the acknowledgement sent. */
const proceed = <T>(
  { dispatcher, owed, storeThen, transmit }: RouterDeps<T>,
  step: Step<T>,
  connection: Connection.Connection,
  acks: AckSequencer,
  manual: boolean,
  deferred: ReadonlyArray<StoreChange>
): Effect.Effect<void> => {
  const p = step.deliver
  if (p === undefined) {
    transmit(step, connection)
    return step.notice === undefined ? Effect.void : Effect.logWarning(`MQTT: ${step.notice}`)
  }
  const message = messageOf(p)
  if (!manual) {
    // Fast path. The acknowledgement goes out once the message is in every matching stream's buffer.
    const delivered = dispatcher.dispatch(message)
    if (delivered === Effect.void) {
      transmit(step, connection)
      return Effect.void
    }
    return Effect.andThen(delivered, Effect.sync(() => transmit(step, connection)))
  }
  // Some stream acknowledges manually: every acknowledgement goes through the sequencer, in order.
  const held = acks.hold(step.send, p.qos === 2 ? p.packetId : undefined, deferred)
  const sendReady = (ready: Ready) => {
    // Through the store's order even without changes: acknowledgements leave in arrival order [MQTT-4.6.0-2].
    if (ready.packets.length > 0) storeThen(ready.changes, connection, () => connection.send(ready.packets))
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
