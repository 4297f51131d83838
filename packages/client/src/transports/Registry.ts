/**
 * The scheme registry: which transport a URL scheme names. The one table of schemes, aliases and
 * default ports is the list of registered transports ({@link Transports}: the built-ins, plus what
 * `layer` adds); the URL parser (`parseUrl`, Server References) and the connection (`open`) both read it.
 *
 * @since 0.4.0
 */
import { Context, Duration, Effect, Layer, Result, type Scope } from "effect"
import { Socket } from "effect/socket"
import { ConnectError, InvalidOptions, ProxyError } from "../errors.ts"
import type { Endpoint } from "../Options.ts"
import type { Channel, Transport } from "./Definition.ts"
import { CurrentProgress, type Progress } from "./Progress.ts"
import { tcp } from "./Tcp.ts"
import { tls } from "./Tls.ts"
import { tlsError } from "./TlsFailure.ts"
import { upgradeRefusal } from "./WebSocketHandshake.ts"
import { unix } from "./Unix.ts"
import { ws, wss } from "./WebSocket.ts"

/**
 * The built-in transports, in the order the unknown-scheme message lists them: TCP (`mqtt://`, `tcp://`),
 * TLS (`mqtts://`, `ssl://`, `tls://`), WebSocket (`ws://`, `wss://`) and Unix domain sockets
 * (`mqtt+unix://`). In a browser the same list connects over the global `WebSocket` only (the others fail
 * with a `ConnectError`): the sockets come from the `#transport` import, swapped by the `browser` condition.
 *
 * @since 0.4.0
 * @category transports
 */
export const builtins: ReadonlyArray<Transport> = [tcp, tls, ws, wss, unix]

/**
 * The transports `MqttClient.layer` picks from by URL scheme; later ones win a scheme two claim. Default:
 * {@link builtins}. Read once, when the client's layer is built.
 *
 * @since 0.4.0
 * @category transports
 */
export const Transports: Context.Reference<ReadonlyArray<Transport>> = Context.Reference<ReadonlyArray<Transport>>(
  "@aimeqtt/client/Transports",
  { defaultValue: () => builtins }
)

/**
 * Registers transports for the clients built under it, after those already registered (so one that
 * claims a built-in scheme, e.g. `mqtt`, replaces the built-in for it):
 * `MqttClient.layer({ url: "mem://x" }).pipe(Layer.provide(Transport.layer(memory)))`.
 *
 * @since 0.4.0
 * @category transports
 */
export const layer = (...transports: ReadonlyArray<Transport>): Layer.Layer<never> =>
  Layer.effect(Transports, Effect.map(Transports, (registered) => [...registered, ...transports]))

/**
 * The transport of a scheme (lower case, without `:`; `endpoint.protocol`): the last of `transports` that
 * claims it, e.g. `Transport.find(yield* Transport.Transports, endpoint.protocol)?.secure`.
 *
 * @since 0.4.0
 * @category transports
 */
export const find = (transports: ReadonlyArray<Transport>, scheme: string): Transport | undefined => {
  for (let i = transports.length - 1; i >= 0; i--) {
    const transport = transports[i] as Transport
    if (transport.schemes.includes(scheme)) return transport
  }
  return undefined
}

/** `mqtt://, mqtts://, ws://, wss:// or mqtt+unix://`: the canonical scheme of every reachable transport. @internal */
export const schemeList = (transports: ReadonlyArray<Transport>): string => {
  const names: Array<string> = []
  for (const transport of transports) {
    const scheme = transport.schemes[0]
    if (find(transports, scheme) === transport && !names.includes(scheme)) names.push(scheme)
  }
  const urls = names.map((name) => `${name}://`)
  return urls.length <= 1 ? urls.join("") : `${urls.slice(0, -1).join(", ")} or ${urls[urls.length - 1]}`
}

/** A parsed URL's host, an IPv6 address without its brackets. @internal */
export const hostOf = (url: URL): string => url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname

/**
 * Where a parsed URL points, by its transport's {@link Transport.address}; `fallback` gives what the URL
 * leaves out: the path of an `"http"` URL without one (`wsPath`), the port of a URL without one. Fails with
 * the reason (for `InvalidOptions`). @internal
 */
export const endpointOf = (
  parsed: URL,
  transport: Transport,
  fallback: { readonly path: string; readonly port?: number | undefined }
): Result.Result<Endpoint, string> => {
  const protocol = transport.schemes[0]
  if (parsed.search !== "" && transport.address !== "http") {
    // Not silently ignored: a `?clientId=...` the user expected to work would connect with another id.
    return Result.fail(
      `the broker URL's query ${JSON.stringify(parsed.search)} is not read for ${protocol}://; ` +
        "pass clientId, keepAlive and the other settings as options"
    )
  }
  if (transport.address === "file") {
    const path = safeDecode(parsed.pathname)
    if (parsed.host !== "" || path === undefined || path === "" || path === "/") {
      return Result.fail(
        `a ${protocol}:// URL names a socket file: ${protocol}:///path/to/socket (three slashes, no host), ` +
          `got ${JSON.stringify(`${protocol}://${parsed.host}${parsed.pathname}`)}`
      )
    }
    return Result.succeed({ protocol, host: "localhost", port: 0, path, transport })
  }
  const host = hostOf(parsed)
  const port = parsed.port !== "" ? Number(parsed.port) : fallback.port ?? transport.defaultPort
  if (port === undefined) return Result.fail(`a ${protocol}:// URL needs a port (${protocol}:// has no default port)`)
  const endpoint = { protocol, host: host === "" ? "localhost" : host, port, transport }
  if (transport.address === "host") return Result.succeed(endpoint)
  // Special schemes (ws, wss) always have a pathname of at least "/"; other schemes may have "".
  const path = parsed.pathname === "" || parsed.pathname === "/"
    ? (fallback.path.startsWith("/") ? fallback.path : `/${fallback.path}`)
    : parsed.pathname
  return Result.succeed({ ...endpoint, path: path + parsed.search })
}

const safeDecode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/**
 * An endpoint for messages: `mqtts://host:port`, `ws://host:port/path`, `mqtt+unix:///path/to/socket`
 * (its `transport`, else `transports`, tells whether it names a socket file). No user info, no TLS settings, and no query: a
 * signed WebSocket URL's token stays out of errors and logs.
 *
 * @since 0.4.0
 * @category transports
 */
export const describeEndpoint = (endpoint: Endpoint, transports: ReadonlyArray<Transport> = builtins): string => {
  if ((endpoint.transport ?? find(transports, endpoint.protocol))?.address === "file") return `${endpoint.protocol}://${endpoint.path ?? ""}`
  const path = endpoint.path?.replace(/\?.*$/, "") ?? ""
  return `${endpoint.protocol}://${endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}${path}`
}

/**
 * The `ConnectError` of an attempt whose time ran out before its transport connected: what it was waiting for
 * (the transport's connect, `websocket.handshake`, the proxy's answer); `undefined` once the transport has
 * connected (then the broker is what did not answer). @internal
 */
export const timedOut = (
  progress: Progress,
  transports: ReadonlyArray<Transport>,
  endpoint: Endpoint,
  timeout: Duration.Duration
): ConnectError | undefined => {
  if (progress.opened) return undefined
  const within = Duration.format(timeout)
  const transport = endpoint.transport ?? find(transports, endpoint.protocol)
  const what = progress.pending?.what ??
    (transport !== undefined && builtins.includes(transport) ? "the connection" : `the connect of the ${endpoint.protocol}:// transport`)
  const cause = progress.pending?.cause?.(within)
  return new ConnectError({
    message: `could not connect to ${describeEndpoint(endpoint, transports)}: ${
      cause instanceof Error ? cause.message : `${what} did not complete within ${within}`
    }`,
    ...(cause !== undefined ? { cause } : {})
  })
}

/**
 * Connects to the endpoint with its `transport` (else the one registered for its `protocol`). The connection lives as long as the
 * surrounding scope. Any failure is a `ConnectError` naming the endpoint; a failed TLS handshake (a
 * `secure` transport) has a `TlsError` cause, a proxy's refusal a `ProxyError` cause. `progress` records what
 * the attempt waits for (see {@link timedOut}). @internal
 */
export const open = (
  transports: ReadonlyArray<Transport>,
  endpoint: Endpoint,
  timeout: Duration.Duration,
  progress?: Progress
): Effect.Effect<Channel, ConnectError, Scope.Scope> => {
  const transport = endpoint.transport ?? find(transports, endpoint.protocol)
  if (transport === undefined) {
    return Effect.fail(
      new ConnectError({ message: `no transport for ${endpoint.protocol}:// is registered (use ${schemeList(transports)})` })
    )
  }
  const where = `could not connect to ${describeEndpoint(endpoint, transports)}`
  const name = `the connect of the ${endpoint.protocol}:// transport`
  // A transport of the program's own may throw, die or answer with something else than an Effect or a
  // Channel: a ConnectError naming it, never a defect (a wrong shape is not retried).
  const wrong = (message: string) => new ConnectError({ message: `${where}: ${message}`, cause: new InvalidOptions({ message }) })
  return Effect.suspend(() => {
    const connecting: unknown = transport.connect(endpoint, timeout)
    return Effect.isEffect(connecting)
      ? connecting as ReturnType<Transport["connect"]>
      : Effect.fail(wrong(`${name} must return an Effect, got ${connecting === null ? "null" : typeof connecting}`))
  }).pipe(
    Effect.catchDefect((defect) =>
      Effect.fail(
        new ConnectError({ message: `${where}: ${name} failed unexpectedly: ${defect instanceof Error ? defect.message : String(defect)}`, cause: defect })
      )
    ),
    Effect.provideService(CurrentProgress, progress),
    Effect.flatMap((channel: unknown) => {
      if (typeof channel !== "object" || channel === null || !("pull" in channel) || !Effect.isEffect(channel.pull) || !("write" in channel) || typeof channel.write !== "function") {
        return Effect.fail(wrong(`${name} must succeed with a Channel ({ pull, write })`))
      }
      if (progress !== undefined) progress.opened = true
      const opened = channel as Channel
      return Effect.succeed(transport.secure ? tlsAlertsOnRead(opened, endpoint, transports) : opened)
    }),
    Effect.mapError((error) => {
      if (error._tag === "ConnectError") return error
      const tls = transport.secure ? tlsError(error, endpoint) : undefined
      // A proxy's refusal (the `proxy` option) is the cause itself, so that `ProxyError.find` and `isRetryable` see it.
      const proxy = error.reason.cause instanceof ProxyError ? error.reason.cause : undefined
      const upgrade = tls === undefined && transport.address === "http" ? upgradeRefusal(error.reason.cause, endpoint) : undefined
      return new ConnectError({
        message: `could not connect to ${describeEndpoint(endpoint, transports)}: ${tls?.message ?? upgrade?.message ?? describe(error)}`,
        cause: tls ?? proxy ?? upgrade?.cause ?? error
      })
    })
  )
}

/**
 * A TLS failure on a read (with TLS 1.3 the broker's verdict on the client certificate, e.g. the alert
 * `certificate_required`, arrives after the client's handshake, on the first read: RFC 8446 §4.4.2.4) fails
 * the read with a `SocketError` whose cause is the `ConnectError` naming the endpoint, with the `TlsError` as its
 * cause, as when the handshake itself fails.
 */
const tlsAlertsOnRead = (channel: Channel, endpoint: Endpoint, transports: ReadonlyArray<Transport>): Channel => ({
  ...channel,
  pull: Effect.mapError(channel.pull, (error) => {
    const tls = error.reason.cause instanceof ConnectError ? undefined : tlsError(error, endpoint)
    if (tls === undefined) return error
    const cause = new ConnectError({ message: `could not connect to ${describeEndpoint(endpoint, transports)}: ${tls.message}`, cause: tls })
    return new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) })
  })
})

const describe = (error: Socket.SocketError): string => {
  const cause = error.reason.cause
  if (cause instanceof Error) return cause.message
  if (typeof cause === "object" && cause !== null && "error" in cause && cause.error instanceof Error) return cause.error.message
  return error.reason._tag === "SocketOpenError" && error.reason.kind === "Timeout" ? "timed out" : error.message
}
