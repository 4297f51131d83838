/**
 * Where the durable part of a session lives: QoS 1/2 publishes in flight and the ids of incoming QoS 2
 * messages waiting for PUBREL. The client stores every change *before* sending the packets it
 * describes, so a process that crashes mid-flow and restarts with the same client id (and the file
 * store) finishes its flows and never delivers an incoming QoS 2 message twice.
 *
 * Two implementations: {@link memory} (the default: survives reconnects and a client rebuilt in the
 * same process) and `FileSessionStore` (Node only: survives a process restart). Writes are synchronous
 * on purpose: the change and the state update happen in one step, so no other fiber can send a packet
 * whose state is not stored yet.
 *
 * @since 0.1.0
 */
import type { PropertiesOf } from "@aimeqtt/codec"
import { Context, Effect, type Scope } from "effect"
import type { SessionStoreError } from "./errors.ts"

/**
 * The MQTT 5.0 properties a program may give a PUBLISH [MQTT-3.3.2.3]: Payload Format Indicator, Message
 * Expiry Interval (seconds), Content Type, Response Topic, Correlation Data and User Properties. (Topic
 * Alias and Subscription Identifier belong to the client and the broker.)
 *
 * @since 0.3.0
 * @category models
 */
export type PublishProperties = Omit<PropertiesOf["Publish"], "topicAlias" | "subscriptionIdentifiers">

/**
 * A QoS 1/2 publish in flight, as a session store keeps it.
 *
 * @since 0.1.0
 * @category session stores
 */
export interface StoredFlow {
  readonly packetId: number
  /** "sent": waiting for PUBACK/PUBREC; "released": PUBREL sent, waiting for PUBCOMP. */
  readonly stage: "sent" | "released"
  readonly topic: string
  readonly payload: Uint8Array
  readonly qos: 1 | 2
  readonly retain: boolean
  /** MQTT 5.0: the publish's properties (user properties, content type, correlation data, ...). */
  readonly properties?: PublishProperties
}

/** The part of a session that must survive a process restart. @since 0.1.0 @category session stores */
export interface StoredSession {
  /** Outgoing flows in the order they were first sent. */
  readonly outgoing: ReadonlyArray<StoredFlow>
  /** Incoming QoS 2 packet ids waiting for PUBREL. */
  readonly incoming: ReadonlyArray<number>
}

/**
 * A change to the durable session state. The caller must store it before sending the step's packets.
 *
 * @since 0.1.0
 * @category session stores
 */
export type StoreChange =
  | { readonly _tag: "PutOutgoing"; readonly flow: StoredFlow }
  | { readonly _tag: "DeleteOutgoing"; readonly packetId: number }
  | { readonly _tag: "AddIncoming"; readonly packetId: number }
  | { readonly _tag: "DeleteIncoming"; readonly packetId: number }
  | { readonly _tag: "ClearIncoming" }

/** One client's stored session. @since 0.1.0 @category session stores */
export interface ClientSessionStore {
  /** The state stored by earlier runs. */
  readonly load: () => StoredSession
  /** Stores changes durably; returns an error instead of throwing. */
  readonly apply: (changes: ReadonlyArray<StoreChange>) => SessionStoreError | undefined
  /** Forgets everything (clean session [MQTT-3.1.2-6]). */
  readonly clear: () => SessionStoreError | undefined
}

/** @since 0.1.0 @category session stores */
export interface SessionStoreShape {
  /** Opens the store of one client id; the scope closes it. */
  readonly open: (clientId: string) => Effect.Effect<ClientSessionStore, SessionStoreError, Scope.Scope>
}

/** State of one client, shared by both implementations. @since 0.1.0 */
export class SessionState {
  readonly outgoing = new Map<number, StoredFlow>()
  readonly incoming = new Set<number>()

  apply(change: StoreChange): void {
    switch (change._tag) {
      case "PutOutgoing":
        this.outgoing.set(change.flow.packetId, change.flow)
        break
      case "DeleteOutgoing":
        this.outgoing.delete(change.packetId)
        break
      case "AddIncoming":
        this.incoming.add(change.packetId)
        break
      case "DeleteIncoming":
        this.incoming.delete(change.packetId)
        break
      case "ClearIncoming":
        this.incoming.clear()
    }
  }

  snapshot(): StoredSession {
    return { outgoing: [...this.outgoing.values()], incoming: [...this.incoming] }
  }
}

/**
 * Keeps sessions in memory, by client id, for the life of the process.
 *
 * @since 0.1.0
 * @category session stores
 */
export const memory = (): SessionStoreShape => {
  const sessions = new Map<string, SessionState>()
  return {
    open: (clientId) =>
      Effect.sync(() => {
        let state = sessions.get(clientId)
        if (state === undefined) sessions.set(clientId, state = new SessionState())
        const current = state
        return {
          load: () => current.snapshot(),
          apply: (changes) => {
            for (const change of changes) current.apply(change)
            return undefined
          },
          clear: () => {
            sessions.set(clientId, new SessionState())
            return undefined
          }
        }
      })
  }
}

/**
 * The session store used by `MqttClient`. Defaults to one process-wide {@link memory} store; provide
 * `FileSessionStore.layer(directory)` for sessions that survive a restart.
 *
 * @since 0.1.0
 * @category session stores
 */
export const SessionStore: Context.Reference<SessionStoreShape> = Context.Reference<SessionStoreShape>(
  "@aimeqtt/client/SessionStore",
  { defaultValue: memory }
)
