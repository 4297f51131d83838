/**
 * The `websocket` option: headers of the WebSocket opening handshake (RFC 6455 §4.1), and an Effect run
 * before every connection attempt that may give a new URL or headers, for credentials that expire (a
 * presigned URL such as AWS IoT Core's SigV4 one, an Azure SAS token, a JWT). Portable: the WebSocket
 * transports of both platforms call {@link prepare}; a browser then refuses headers (its `WebSocket` cannot
 * set them) but follows a new URL.
 *
 * @since 0.4.0
 */
import { Effect, Redacted } from "effect"
import { AuthenticationFailed, ConnectError, InvalidOptions } from "../errors.ts"
import type { Endpoint } from "../Options.ts"
import { waitingFor } from "./Progress.ts"

/**
 * Header names and values of a WebSocket opening handshake; a value may be `Redacted` (a token), unwrapped only
 * where the request is written.
 *
 * @since 0.4.0
 * @category options
 */
export type WebSocketHeaders = Readonly<Record<string, string | Redacted.Redacted<string>>>

/**
 * What `websocket.handshake` gives for one connection attempt.
 *
 * @since 0.4.0
 * @category options
 */
export interface WebSocketHandshake {
  /**
   * The URL to dial instead of the configured one, e.g. a presigned URL with a fresh signature in its query.
   * Same scheme (`ws://` stays `ws://`, `wss://` stays `wss://`); host, port, path and query may change. The
   * `tls` options (SNI, certificate name) follow its host. Never shown in errors or logs: they name the
   * configured URL.
   */
  readonly url?: string
  /** Headers for this attempt, on top of `websocket.headers` (a name in both, compared case-insensitively: this one wins). */
  readonly headers?: WebSocketHeaders
}

/**
 * Options of the WebSocket transports (`ws://`, `wss://`).
 *
 * @since 0.4.0
 * @category options
 */
export interface WebSocketOptions {
  /**
   * Headers sent with every opening handshake, e.g. `{ Authorization: Redacted.make("Bearer ...") }`. Node
   * only: a browser's `WebSocket` cannot set headers, so there the connection fails with a `ConnectError`
   * (not retried). The handshake's own headers (`Sec-WebSocket-*`, `Connection`, `Upgrade`) cannot be set.
   */
  readonly headers?: WebSocketHeaders
  /**
   * Runs before every WebSocket connection attempt (the first, each retry and each reconnect) with the URL
   * about to be dialled (one of `urls`, as configured, without user info); its {@link WebSocketHandshake}
   * may replace the URL and add headers for that attempt. A failure fails the attempt with a `ConnectError`
   * naming `websocket.handshake`, retried like a network failure; a URL of another scheme or an invalid
   * header is not retried. Bounded by `connectTimeout`, like the rest of the attempt.
   */
  readonly handshake?: (request: { readonly url: string }) => Effect.Effect<WebSocketHandshake, unknown>
}

/** Set by the WebSocket handshake itself (RFC 6455 §4.1), or by Node for the request. */
const reserved: ReadonlySet<string> = new Set([
  "connection",
  "upgrade",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "content-length",
  "transfer-encoding"
])

/** A field name: an HTTP token (RFC 9110 §5.1, §5.6.2). */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Why `headers` cannot be sent, naming `field` and the header (never a value); `undefined` when they can. */
export const headersError = (headers: unknown, field: string): string | undefined => {
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) return `${field} must be an object of header names and values`
  for (const [name, value] of Object.entries(headers)) {
    if (!token.test(name)) return `${field}: ${JSON.stringify(name)} is not a header name (RFC 9110 §5.1)`
    if (reserved.has(name.toLowerCase())) return `${field}: ${name} is set by the WebSocket handshake itself`
    const text: unknown = Redacted.isRedacted(value) ? Redacted.value(value) : value
    if (typeof text !== "string") return `${field}: the value of ${name} must be a string or a Redacted string`
    // RFC 9110 §5.5: no CR, LF or NUL (a header could be smuggled in); the value itself is never shown.
    if (/[\r\n\0]/.test(text)) return `${field}: the value of ${name} holds CR, LF or NUL`
  }
  return undefined
}

/** Why the `websocket` option is invalid, naming the field; `undefined` when it is fine. @internal */
export const websocketOptionsError = (options: WebSocketOptions): string | undefined => {
  if (typeof options !== "object" || options === null) return "websocket must be an object ({ headers?, handshake? })"
  if (options.headers !== undefined) {
    const issue = headersError(options.headers, "websocket.headers")
    if (issue !== undefined) return issue
  }
  if (options.handshake !== undefined && typeof options.handshake !== "function") {
    return "websocket.handshake must be a function returning an Effect"
  }
  return undefined
}

/** `ws://host:port/path?query`: the endpoint as a URL. */
const urlOf = (endpoint: Endpoint, scheme: string): string =>
  `${scheme}://${endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}${endpoint.path ?? "/mqtt"}`

/** A misconfiguration found while connecting: a `ConnectError` whose `InvalidOptions` cause makes it final. */
const invalid = (message: string) => new ConnectError({ message, cause: new InvalidOptions({ message }) })

/**
 * One attempt's handshake: runs `websocket.handshake` (when given) and answers with the endpoint to dial (its
 * host, port and path from the returned URL) and the headers to send (`undefined`: none). @internal
 */
export const prepare = (
  endpoint: Endpoint,
  scheme: "ws" | "wss"
): Effect.Effect<{ readonly endpoint: Endpoint; readonly headers: WebSocketHeaders | undefined }, ConnectError> => {
  const options = endpoint.websocket
  const base = options?.headers
  const handshake = options?.handshake
  if (handshake === undefined) return Effect.succeed({ endpoint, headers: base })
  return Effect.gen(function*() {
    yield* waitingFor("websocket.handshake")
    // The program's function may also throw, die or answer with something else than an Effect: a ConnectError
    // naming it, never a defect.
    const result: unknown = yield* Effect.suspend(() => {
      const running: unknown = handshake({ url: urlOf(endpoint, scheme) })
      return Effect.isEffect(running)
        ? running as Effect.Effect<unknown, unknown>
        : Effect.fail(invalid(`websocket.handshake must return an Effect, got ${running === null ? "null" : typeof running}`))
    }).pipe(
      Effect.catchDefect((defect) => Effect.fail(defect)),
      Effect.mapError((cause) =>
        cause instanceof ConnectError
          ? cause
          : new ConnectError({ message: `websocket.handshake failed: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
      )
    )
    yield* waitingFor("the WebSocket connection")
    if (typeof result !== "object" || result === null) {
      return yield* invalid(`websocket.handshake must succeed with an object ({ url?, headers? }), got ${result === null ? "null" : typeof result}`)
    }
    let next = endpoint
    if ("url" in result && result.url !== undefined) {
      const url = typeof result.url === "string" && URL.canParse(result.url) ? new URL(result.url) : undefined
      if (url === undefined || url.protocol !== `${scheme}:`) {
        return yield* invalid(`websocket.handshake must give a ${scheme}:// URL (the scheme of ${urlOf(endpoint, scheme).replace(/\?.*$/, "")})`)
      }
      const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
      next = {
        ...endpoint,
        host,
        port: url.port === "" ? (scheme === "wss" ? 443 : 80) : Number(url.port),
        path: (url.pathname === "" ? "/" : url.pathname) + url.search
      }
    }
    const headers: unknown = "headers" in result ? result.headers : undefined
    if (headers === undefined) return { endpoint: next, headers: base }
    const issue = headersError(headers, "the headers of websocket.handshake")
    if (issue !== undefined) return yield* invalid(issue)
    const given = headers as WebSocketHeaders
    const merged: Record<string, string | Redacted.Redacted<string>> = {}
    const added = new Set(Object.keys(given).map((name) => name.toLowerCase()))
    for (const [name, value] of Object.entries(base ?? {})) if (!added.has(name.toLowerCase())) merged[name] = value
    for (const [name, value] of Object.entries(given)) merged[name] = value
    return { endpoint: next, headers: merged }
  })
}

/** The headers as plain strings, for the one place that writes the request (`Redacted` values unwrapped there). @internal */
export const plainHeaders = (headers: WebSocketHeaders): Record<string, string> => {
  const plain: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) plain[name] = Redacted.isRedacted(value) ? Redacted.value(value) : value
  return plain
}

const statusTexts: Readonly<Record<number, string>> = { 401: "401 Unauthorized", 403: "403 Forbidden" }

/**
 * The WebSocket server's refusal of the opening handshake (RFC 6455 §4.1: any status but 101), from the `ws`
 * package's "Unexpected server response: 401": a message, and for 401 or 403 without `websocket.handshake` (the
 * same credentials would be sent again) an `AuthenticationFailed` cause, which makes it final like a proxy's 407.
 * With `websocket.handshake` a new attempt brings new credentials, so it is retried. `undefined`: not a refusal.
 * @internal
 */
export const upgradeRefusal = (
  cause: unknown,
  endpoint: Endpoint
): { readonly message: string; readonly cause?: AuthenticationFailed } | undefined => {
  const error = cause instanceof Error
    ? cause
    : typeof cause === "object" && cause !== null && "error" in cause && cause.error instanceof Error
    ? cause.error
    : undefined
  const match = error === undefined ? null : /^Unexpected server response: (\d{3})$/.exec(error.message)
  if (match === null) return undefined
  const status = Number(match[1])
  if (status !== 401 && status !== 403) return { message: `the WebSocket server refused the upgrade with ${status} (expected 101)` }
  const message = `the WebSocket server refused the upgrade: ${statusTexts[status]}; check the credentials ` +
    "(websocket.headers, the URL's query)"
  return endpoint.websocket?.handshake === undefined
    ? { message, cause: new AuthenticationFailed({ message }) }
    : { message: `${message}; websocket.handshake runs again before the next attempt` }
}
