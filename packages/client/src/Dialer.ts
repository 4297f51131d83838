/**
 * Opening connections: which broker to try (round-robin over `urls`), the first connection (retried
 * within `connectTimeout` unless `connectRetry` is false, errors that are not `isRetryable` fail at once) and reconnecting after a loss with a fresh
 * `reconnect` schedule per outage.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Exit, Result, Schedule, Scope } from "effect"
import * as Connection from "./Connection.ts"
import * as Tracing from "./Tracing.ts"
import { ConnectError, type ConnectionRefused, type ConnectionFailure, type ProtocolError } from "./errors.ts"
import { type Endpoint, randomClientId, type ResolvedOptions } from "./Options.ts"
import type { Transport } from "./transports/Definition.ts"
import { endpointOf, find } from "./transports/Registry.ts"
import type { ConnectionStatus } from "./Supervisor.ts"

/** An accepted connection and the scope that closes its socket. @since 0.1.0 */
export interface Opened {
  readonly connection: Connection.Connection
  readonly scope: Scope.Closeable
}

type AttemptError = ConnectError | ConnectionRefused | ProtocolError

/** @since 0.1.0 */
export interface Dialer {
  /** The first connection of the client; fails with the layer's errors. */
  readonly first: Effect.Effect<Opened, ConnectionRefused | ConnectError>
  /**
   * A new outage, with a fresh `reconnect` schedule. Its `reconnect`, after a lost connection, waits and
   * retries as the schedule says, reporting each step through `report`, and fails with the last cause when
   * the schedule ends. Called again in the same outage (the connection it opened ended before it settled),
   * it goes on with the same schedule, so the schedule's limit holds for a broker that accepts a
   * connection and then closes it every time.
   */
  readonly outage: Effect.Effect<Outage>
  /** Moves on to the next broker (after a lost connection). */
  readonly next: () => void
  /**
   * After the broker closed a connection instead of answering its SUBSCRIBE: a clean session whose client
   * id was generated takes a fresh one for the next connection. A clean session has nothing tied to its
   * id, and RabbitMQ 3.10 keeps a client id's subscription queue on the node that created it: while that
   * node is down, every other node closes the connection on that id's SUBSCRIBE (clean session or not).
   * A `clientId` the user chose is kept.
   */
  readonly subscribeRefusedByClose: () => void
  /**
   * MQTT 5.0: the broker assigned this client id to a client that sent an empty one [MQTT-3.2.2.3.7]; later
   * connections send it, so that they resume that session.
   */
  readonly assigned: (clientId: string) => void
  /** MQTT 5.0: a DISCONNECT named another server; true when the client follows it (`followServerReference`). */
  readonly follow: (error: { readonly _tag: string; readonly serverReference?: string | undefined }) => boolean
}

/** One outage: from a lost connection until a new one settles. @since 0.2.0 */
export interface Outage {
  readonly reconnect: (
    lastEnd: ConnectionFailure,
    report: (status: ConnectionStatus) => Effect.Effect<void>
  ) => Effect.Effect<Opened, ConnectionFailure>
}

/** @since 0.1.0 */
export const make = (options: ResolvedOptions): Dialer => {
  let clientId = options.connect.clientId // a generated id of a clean session may be renewed
  let endpointIndex = 0 // round-robin over the brokers: advanced after every failure or loss
  const next = () => {
    endpointIndex++
  }

  /** One attempt on the current broker; a failure moves on to the next one. */
  /** MQTT 5.0: where a Server Reference sent the client (see `followServerReference`), until it fails. */
  let redirected: Endpoint | undefined

  /**
   * Follows the Server Reference of a refusal or DISCONNECT (0x9C Use another server, 0x9D Server moved
   * [MQTT-4.11]) when the program allows it. Returns whether the client will go there.
   */
  const follow = (error: { readonly _tag: string; readonly serverReference?: string | undefined }): boolean => {
    if (!options.followServerReference || error.serverReference === undefined) return false
    const current = options.endpoints[endpointIndex % options.endpoints.length] as Endpoint
    redirected = serverReferenceEndpoint(error.serverReference, redirected ?? current, options.transports)
    return redirected !== undefined
  }

  const attempt: Effect.Effect<Opened, AttemptError> = Effect.suspend(() => {
    const endpoint = redirected ?? options.endpoints[endpointIndex % options.endpoints.length] as Endpoint
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const password = yield* options.password
      return yield* Connection.open({ ...options, connect: { ...options.connect, clientId }, endpoint, password }).pipe(
        Scope.provide(scope),
        Effect.map((connection) => ({ connection, scope })),
        Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
      )
    }).pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          if (error._tag === "ConnectionRefused" && follow(error)) return
          redirected = undefined
          next()
        })
      ),
      (self) =>
        Tracing.span("mqtt.connect", () => ({
          "mqtt.client_id": clientId,
          "server.address": endpoint.host,
          "server.port": endpoint.port
        }), () => self)
    )
  })

  /** An attempt that follows up to 3 Server References at once (a refusal naming another server). */
  const following = (hops: number): Effect.Effect<Opened, AttemptError> =>
    attempt.pipe(Effect.catchIf((error) => error._tag === "ConnectionRefused" && redirected !== undefined && hops > 0, () => following(hops - 1)))

  const first = Effect.suspend(() => {
    let lastFailure: AttemptError | undefined
    return following(3).pipe(
      Effect.tapError((error) => Effect.sync(() => { lastFailure = error })),
      Effect.retry({
        // Without `connectRetry`, each broker is tried once, one after the other, with no pause.
        schedule: options.connectRetry ? options.reconnect : Schedule.recurs(options.endpoints.length - 1),
        // The error says whether trying again can help (`isRetryable`): refusals other than "server
        // unavailable" (3) are final [MQTT-3.2.2.3], so is a certificate problem. Another broker in `urls`
        // may still have a good certificate, or answer at all.
        while: (error) => error.isRetryable || (options.endpoints.length > 1 && error._tag !== "ConnectionRefused")
      }),
      Effect.timeoutOrElse({
        duration: options.connectTimeout,
        orElse: () =>
          Effect.fail(
            new ConnectError({
              message: `could not connect within ${Duration.format(options.connectTimeout)}` +
                (lastFailure === undefined ? "" : `: ${lastFailure.message}`),
              ...(lastFailure === undefined ? {} : { cause: lastFailure })
            })
          )
      }),
      Effect.mapError((error) => error._tag === "ProtocolError" ? new ConnectError({ message: error.message, cause: error }) : error)
    )
  })

  const outage: Effect.Effect<Outage> = Effect.map(Schedule.toStep(options.reconnect), (step) => {
    let n = 0 // attempts in this outage
    const reconnect = (lastEnd: ConnectionFailure, report: (status: ConnectionStatus) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        let cause: ConnectionFailure = lastEnd
        while (true) {
          const decision = yield* Effect.exit(step(yield* Clock.currentTimeMillis, cause))
          if (Exit.isFailure(decision)) return yield* Effect.fail(cause) // schedule exhausted
          // Whole milliseconds: a jittered schedule gives nanoseconds, which print as "844946141 nanos".
          const delay = Duration.millis(Math.round(Duration.toMillis(decision.value[1])))
          yield* report({ _tag: "Reconnecting", attempt: ++n, delay })
          yield* Effect.sleep(delay)
          const result = yield* Effect.result(following(3).pipe(Effect.timeout(options.connectTimeout)))
          if (Result.isSuccess(result)) return result.success
          cause = result.failure._tag === "TimeoutError"
            ? new ConnectError({ message: `no connection within ${Duration.format(options.connectTimeout)}` })
            : result.failure
          yield* report({ _tag: "Disconnected", cause })
        }
      })
    return { reconnect }
  })

  const subscribeRefusedByClose = () => {
    if (options.clientIdGenerated && options.connect.cleanSession) clientId = randomClientId()
  }

  const assigned = (id: string) => {
    clientId = id
  }

  return { first, outage, next, subscribeRefusedByClose, assigned, follow }
}

/**
 * The endpoint a Server Reference names [MQTT-4.11]: the first of a space-separated list, as `host`,
 * `host:port`, `[v6]:port` or a URL; the transport and TLS settings stay those of `current` unless the URL
 * names a scheme (one of `transports`); the proxy and WebSocket options carry over. `undefined` when it
 * cannot be read (the client then stops, as without the option).
 *
 * @since 0.3.0
 */
export const serverReferenceEndpoint = (
  reference: string,
  current: Endpoint,
  transports: ReadonlyArray<Transport>
): Endpoint | undefined => {
  const first = reference.trim().split(/\s+/)[0] ?? ""
  if (first === "") return undefined
  const url = first.includes("://") ? first : `${current.protocol}://${first}`
  if (!URL.canParse(url)) return undefined
  const parsed = new URL(url)
  const transport = find(transports, parsed.protocol.slice(0, -1).toLowerCase())
  if (transport === undefined || (transport.address !== "file" && parsed.hostname === "")) return undefined
  const same = transport === (current.transport ?? find(transports, current.protocol))
  // Without a port, the current one on the same transport, else the transport's default; without a
  // path, the current one (a WebSocket's `/mqtt`).
  const endpoint = endpointOf(parsed, transport, {
    path: current.path ?? "/mqtt",
    ...(same && parsed.port === "" ? { port: current.port } : {})
  })
  if (endpoint._tag === "Failure") return undefined
  const { proxy, tls, websocket } = current
  return {
    ...endpoint.success,
    ...(tls !== undefined && transport.secure ? { tls } : {}),
    // the same proxy and WebSocket options as the server that named it
    ...(proxy !== undefined && transport.address !== "file" ? { proxy } : {}),
    ...(websocket !== undefined && transport.address === "http" ? { websocket } : {})
  }
}
