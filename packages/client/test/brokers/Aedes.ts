/**
 * An embedded aedes broker (in-process, npm `aedes`) on a free 127.0.0.1 port, with hooks to shape its answers
 * (CONNACK codes, SUBACK 0x80) and to observe what it sees.
 */
import { Aedes, type AuthenticateError, type PublishPacket } from "aedes"
import { Context, Effect, Layer, type Scope } from "effect"
import { BrokerError, HOST, listen, Observed } from "./internal.ts"

/** CONNACK return codes an {@link AedesOptions.authenticate} hook can ask for (1..5; 0 is `true`). */
export type AedesConnackRefusal = 1 | 2 | 3 | 4 | 5

/** Options of {@link AedesBroker.start}. */
export interface AedesOptions {
  /** Port to listen on. Default: an ephemeral port (0). */
  readonly port?: number
  /**
   * Decides a CONNECT: `true` accepts (CONNACK 0), `false` refuses with CONNACK 5 (not authorised), a number
   * refuses with that CONNACK return code (e.g. 4 = bad user name or password).
   */
  readonly authenticate?: (
    username: string | undefined,
    password: string | undefined,
    clientId: string
  ) => boolean | AedesConnackRefusal
  /** Decides a subscription; `false` gives SUBACK 0x80 for that filter (the connection stays open). */
  readonly authorizeSubscribe?: (filter: string, clientId: string) => boolean
  /** Decides an incoming PUBLISH; `false` makes aedes drop it (and close the client connection for MQTT 3.1.1). */
  readonly authorizePublish?: (topic: string, clientId: string | undefined) => boolean
}

/** A PUBLISH the broker received from a client (or published itself; `$SYS` topics excluded). */
export interface AedesPublished {
  /** Publishing client's id, `undefined` for messages published by the broker itself. */
  readonly clientId: string | undefined
  readonly topic: string
  readonly payload: Uint8Array
  readonly qos: 0 | 1 | 2
  readonly retain: boolean
  readonly dup: boolean
}

/** A running embedded aedes broker, owned by a scope. */
export interface AedesHandle {
  readonly port: number
  readonly host: string
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string
  /** The aedes instance, for anything the handle does not cover. */
  readonly broker: Aedes
  /**
   * What the broker saw, in order, as strings: `client:ID` (CONNECT accepted for processing),
   * `connack:ID:RC`, `subscribe:ID:FILTER:QOS`, `unsubscribe:ID:FILTER`, `publish:ID:TOPIC`,
   * `ping:ID`, `disconnect:ID`, `keepaliveTimeout:ID`, `clientError:ID:MESSAGE`, `connectionError:ID:MESSAGE`.
   * A live array: it keeps growing.
   */
  readonly events: ReadonlyArray<string>
  /** PUBLISH packets seen (live array, `$SYS` excluded). */
  readonly published: ReadonlyArray<AedesPublished>
  /** Number of TCP connections accepted so far. */
  readonly connectionCount: () => number
  /** Number of clients currently connected (MQTT-level). */
  readonly connectedClients: () => number
  /** Waits (up to `timeoutMs`, default 5000) for an event (already seen or future) matching a prefix or predicate. */
  readonly awaitEvent: (
    match: string | ((event: string) => boolean),
    timeoutMs?: number
  ) => Effect.Effect<string, BrokerError>
  /** Waits (up to `timeoutMs`, default 5000) for a PUBLISH (already seen or future) on a topic or matching a predicate. */
  readonly awaitPublish: (
    match: string | ((message: AedesPublished) => boolean),
    timeoutMs?: number
  ) => Effect.Effect<AedesPublished, BrokerError>
  /** Publishes from the broker itself (delivered to matching subscribers, kept if `retain`). */
  readonly publish: (
    topic: string,
    payload: string | Uint8Array,
    options?: { readonly qos?: 0 | 1 | 2; readonly retain?: boolean }
  ) => Effect.Effect<void, BrokerError>
  /** Destroys every live TCP connection (clients see the connection drop; the broker keeps running). */
  readonly dropConnections: Effect.Effect<void>
}

const start = (options: AedesOptions = {}): Effect.Effect<AedesHandle, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    const events = new Observed<string>()
    const published = new Observed<AedesPublished>()
    let connectionCount = 0

    const broker = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          Aedes.createBroker({
            ...(options.authenticate !== undefined
              ? {
                authenticate: (client, username, password, done) => {
                  const auth = options.authenticate
                  const verdict = auth === undefined
                    ? true
                    : auth(username ?? undefined, password?.toString("utf8"), client.id)
                  if (verdict === true) done(null, true)
                  else if (verdict === false) done(null, false)
                  else {
                    const error: AuthenticateError = Object.assign(new Error(`refused with CONNACK ${verdict}`), {
                      returnCode: verdict
                    })
                    done(error, null)
                  }
                }
              }
              : {}),
            ...(options.authorizeSubscribe !== undefined
              ? {
                authorizeSubscribe: (client, subscription, callback) => {
                  const ok = options.authorizeSubscribe?.(subscription.topic, client.id) ?? true
                  // Trap: callback(error) makes aedes close the connection; (null, null) gives SUBACK 0x80.
                  callback(null, ok ? subscription : null)
                }
              }
              : {}),
            ...(options.authorizePublish !== undefined
              ? {
                authorizePublish: (client, packet, callback) => {
                  const ok = options.authorizePublish?.(packet.topic, client?.id) ?? true
                  if (ok) callback(null)
                  else callback(new Error(`publish to ${packet.topic} rejected`))
                }
              }
              : {})
          }),
        catch: (cause) => new BrokerError({ message: "Aedes.createBroker failed", cause })
      }),
      (b) => Effect.callback<void>((resume) => b.close(() => resume(Effect.void)))
    )

    broker.on("client", (c) => events.push(`client:${c.id}`))
    broker.on("connackSent", (p, c) => events.push(`connack:${c.id}:${String(p.returnCode ?? 0)}`))
    broker.on("subscribe", (subs, c) => {
      for (const s of subs) events.push(`subscribe:${c.id}:${s.topic}:${s.qos}`)
    })
    broker.on("unsubscribe", (topics, c) => {
      for (const t of topics) events.push(`unsubscribe:${c.id}:${t}`)
    })
    broker.on("ping", (_p, c) => events.push(`ping:${c.id}`))
    broker.on("clientDisconnect", (c) => events.push(`disconnect:${c.id}`))
    broker.on("keepaliveTimeout", (c) => events.push(`keepaliveTimeout:${c.id}`))
    broker.on("clientError", (c, e) => events.push(`clientError:${c.id}:${e.message}`))
    broker.on("connectionError", (c, e) => events.push(`connectionError:${c.id}:${e.message}`))
    broker.on("publish", (packet, client) => {
      if (packet.topic.startsWith("$SYS")) return
      events.push(`publish:${client?.id ?? "-"}:${packet.topic}`)
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload, "utf8") : packet.payload
      published.push({
        clientId: client?.id,
        topic: packet.topic,
        payload: new Uint8Array(payload),
        qos: packet.qos,
        retain: packet.retain,
        dup: packet.dup
      })
    })

    const { port, sockets } = yield* listen(
      "aedes",
      (socket) => {
        connectionCount += 1
        broker.handle(socket)
      },
      { port: options.port }
    )

    const handle: AedesHandle = {
      port,
      host: HOST,
      url: `mqtt://${HOST}:${port}`,
      broker,
      events: events.items,
      published: published.items,
      connectionCount: () => connectionCount,
      connectedClients: () => broker.connectedClients,
      awaitEvent: (match, timeoutMs = 5000) =>
        events.waitFor(
          typeof match === "string" ? (e) => e.startsWith(match) : match,
          timeoutMs,
          typeof match === "string" ? `aedes event ${match}` : "aedes event"
        ),
      awaitPublish: (match, timeoutMs = 5000) =>
        published.waitFor(
          typeof match === "string" ? (m) => m.topic === match : match,
          timeoutMs,
          typeof match === "string" ? `a PUBLISH on ${match}` : "a PUBLISH"
        ),
      publish: (topic, payload, opts = {}) =>
        Effect.callback<void, BrokerError>((resume) => {
          const packet: PublishPacket = {
            cmd: "publish",
            topic,
            payload: typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload),
            qos: opts.qos ?? 0,
            retain: opts.retain ?? false,
            dup: false
          }
          broker.publish(packet, (error) =>
            resume(
              error === undefined || error === null
                ? Effect.void
                : Effect.fail(new BrokerError({ message: `aedes publish failed: ${error.message}`, cause: error }))
            ))
        }),
      dropConnections: Effect.sync(() => {
        for (const s of sockets) s.destroy()
      })
    }
    return handle
  })

/**
 * Embedded aedes broker. `AedesBroker.start(options)` is scoped; `AedesBroker.layer(options)` provides the
 * {@link AedesHandle} as the `AedesBroker` service (built once per layer).
 */
export class AedesBroker extends Context.Service<AedesBroker, AedesHandle>()("aimeqtt/test/AedesBroker") {
  /**
   * Starts aedes on 127.0.0.1 (ephemeral port unless `options.port`). On scope close: destroys live sockets,
   * closes the server, then `broker.close()`.
   */
  static readonly start: (options?: AedesOptions) => Effect.Effect<AedesHandle, BrokerError, Scope.Scope> = start

  /** The broker as a layer (the scope of the layer owns it). */
  static layer(options: AedesOptions = {}): Layer.Layer<AedesBroker, BrokerError> {
    return Layer.effect(AedesBroker, start(options))
  }
}
