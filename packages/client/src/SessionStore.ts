/**
 * Where the durable part of a session lives: QoS 1/2 publishes in flight and the ids of incoming QoS 2
 * messages waiting for PUBREL. The client stores every change *before* sending the packets it
 * describes, so a process that crashes mid-flow and restarts with the same client id (and the file
 * store) finishes its flows and never delivers an incoming QoS 2 message twice.
 *
 * Implementations: {@link memory} (the default: survives reconnects and a client rebuilt in the
 * same process), `FileSessionStore` and `SqliteSessionStore` (Node: survive a process restart) and
 * `IndexedDbSessionStore` (browser: survives a page reload). The contract is asynchronous (Effects); the engine waits for each write before it sends the packets it describes, and
 * never runs two writes of one client at once.
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

/**
 * One client's stored session. Every operation is an Effect, so a store may be asynchronous (IndexedDB,
 * SQLite, a network database).
 *
 * The engine's promises to a store: for one client, `apply` and `clear` are never run concurrently (each
 * starts after the previous one completed), and `load` runs once, right after `open`. The store's
 * promise to the engine: when `apply` completes, its changes survive a crash of the process (or, for a
 * memory store, of the connection), in the order given; when it fails, the engine sends none of the
 * packets they describe and closes the connection.
 *
 * @since 0.1.0
 * @category session stores
 */
export interface ClientSessionStore {
  /** The state stored by earlier runs (outgoing flows in the order they were first stored). */
  readonly load: Effect.Effect<StoredSession, SessionStoreError>
  /** Stores the changes durably, in order. The engine sends the step's packets only after it succeeds. */
  readonly apply: (changes: ReadonlyArray<StoreChange>) => Effect.Effect<void, SessionStoreError>
  /** Forgets everything of this client (clean session [MQTT-3.1.2-6]); later `apply`s start from empty. */
  readonly clear: Effect.Effect<void, SessionStoreError>
}

/**
 * A session store: opens the stored session of one client id. Provide it as the {@link SessionStore}
 * service; it must pass the conformance suite in `test/sessionStore/conformance.ts`.
 *
 * @since 0.1.0
 * @category session stores
 */
export interface SessionStoreShape {
  /** Opens the store of one client id; the scope closes it. */
  readonly open: (clientId: string) => Effect.Effect<ClientSessionStore, SessionStoreError, Scope.Scope>
}

/**
 * Internal: a store whose writes complete at once (the memory store) offers them under this key, so the
 * engine applies them without starting a fiber. Not part of the public contract.
 *
 * @since 0.4.0
 */
export const applyNow: unique symbol = Symbol.for("@aimeqtt/client/SessionStore/applyNow")

/** A {@link ClientSessionStore} that may also be written synchronously (see {@link applyNow}). @since 0.4.0 */
export interface SynchronousStore {
  readonly [applyNow]: (changes: ReadonlyArray<StoreChange>) => void
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

  clear(): void {
    this.outgoing.clear()
    this.incoming.clear()
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
  // One state per client id for the life of the store: `clear` empties it in place, so a store opened
  // before the clear and one opened after it see the same state.
  const stateOf = (clientId: string): SessionState => {
    let state = sessions.get(clientId)
    if (state === undefined) sessions.set(clientId, state = new SessionState())
    return state
  }
  return {
    open: (clientId) =>
      Effect.sync(() => {
        const state = stateOf(clientId)
        const write = (changes: ReadonlyArray<StoreChange>): void => {
          for (const change of changes) state.apply(change)
        }
        const store: ClientSessionStore & SynchronousStore = {
          load: Effect.sync(() => state.snapshot()),
          apply: (changes) => Effect.sync(() => write(changes)),
          clear: Effect.sync(() => state.clear()),
          [applyNow]: write
        }
        return store
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
