/**
 * Opens the byte stream to the broker. The URL scheme picks the transport:
 * - `mqtt://` (TCP) and `mqtts://` (TLS): the raw MQTT byte stream [MQTT-4.2].
 * - `ws://` and `wss://`: MQTT over WebSocket [MQTT-6.0]: binary frames only [MQTT-6.0.0-1], the
 *   subprotocol `mqtt` [MQTT-6.0.0-3/4]; a packet may span frames and a frame may hold several
 *   packets [MQTT-6.0.0-2], which the streaming decoder handles.
 *
 * The platform part (which sockets exist) comes from `#transport`, a module swapped by the package's
 * `imports` conditions: `Transport.node.ts` (TCP, TLS, WebSocket via `ws`) by default,
 * `Transport.browser.ts` (the global `WebSocket` only, no Node imports) under the `browser` condition.
 * Everything else, including the TLS error classification, is shared.
 *
 * @since 0.1.0
 */
import { Duration, Effect, type Scope } from "effect"
import { Socket } from "effect/socket"
import * as Platform from "#transport"
import { ConnectError, TlsError, type TlsFailure } from "./errors.ts"
import type { Endpoint } from "./Options.ts"

/** A connected duplex byte stream. @since 0.1.0 */
export interface Channel {
  /** The next batch of received chunks; fails with `SocketError` at EOF or on a socket error. */
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, Socket.SocketError>
  /** Writes chunks as one corked batch (one WebSocket frame), waiting for the socket to drain when its buffer is full. */
  readonly write: (chunks: readonly [Uint8Array, ...Array<Uint8Array>]) => Effect.Effect<void, Socket.SocketError>
}

/**
 * Connects to the endpoint. The socket lives as long as the surrounding scope; closing it ends the
 * connection. A failed TLS handshake fails with a `ConnectError` whose `cause` is a {@link TlsError}.
 *
 * @since 0.1.0
 */
export const open = (endpoint: Endpoint, timeout: Duration.Duration): Effect.Effect<Channel, ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* Platform.makeSocket(endpoint, timeout)
    const websocket = isWebSocket(endpoint)
    // Reader and writer must share one scope: each reader acquisition dials a new connection.
    const pull = websocket ? yield* binaryFrames(socket) : yield* Socket.readerBytes(socket)
    const writer = yield* socket.writer
    const write: Channel["write"] = websocket
      ? (chunks) => writer.write(chunks.length === 1 ? chunks[0] : concat(chunks))
      : writer.writeAll
    return { pull, write }
  }).pipe(
    Effect.mapError((error) => {
      if (error._tag === "ConnectError") return error
      const tls = endpoint.protocol === "mqtts" || endpoint.protocol === "wss" ? tlsError(error, endpoint) : undefined
      return new ConnectError({
        message: `could not connect to ${describeEndpoint(endpoint)}: ${tls?.message ?? describe(error)}`,
        cause: tls ?? error
      })
    })
  )

/** `mqtts://host:port`, `ws://host:port/path`: for messages. @since 0.1.0 */
export const describeEndpoint = (endpoint: Endpoint): string =>
  `${endpoint.protocol}://${endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}${endpoint.path ?? ""}`

const isWebSocket = (endpoint: Endpoint): boolean => endpoint.protocol === "ws" || endpoint.protocol === "wss"

/** The reader of a WebSocket: a text frame is a protocol violation that closes the connection [MQTT-6.0.0-1]. */
const binaryFrames = (socket: Socket.Socket) =>
  Effect.map(socket.reader, ({ pull }) =>
    Effect.flatMap(pull, (frames) => {
      for (const frame of frames) {
        if (typeof frame === "string") {
          return Effect.fail(
            new Socket.SocketError({
              reason: new Socket.SocketReadError({
                cause: new Error("the broker sent a text frame; MQTT over WebSocket uses binary frames only [MQTT-6.0.0-1]")
              })
            })
          )
        }
      }
      return Effect.succeed(frames as ReadonlyArray<Uint8Array>)
    }))

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array<ArrayBuffer> => {
  let size = 0
  for (const chunk of chunks) size += chunk.length
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const describe = (error: Socket.SocketError): string => {
  const cause = error.reason.cause
  if (cause instanceof Error) return cause.message
  const nested = errorOf(cause)
  if (nested !== undefined) return nested.message
  return error.reason._tag === "SocketOpenError" && error.reason.kind === "Timeout" ? "timed out" : error.message
}

/** A WebSocket `error` event of the `ws` package carries the underlying Error in `error`. */
const errorOf = (cause: unknown): Error | undefined => {
  if (cause instanceof Error) return cause
  if (typeof cause === "object" && cause !== null && "error" in cause && cause.error instanceof Error) return cause.error
  return undefined
}

// Node's (OpenSSL's X509_V_ERR_*) verification codes, grouped (RFC 5280 §6: path validation;
// RFC 6125: service identity).
const failures: Readonly<Record<string, Exclude<TlsFailure, "other">>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unknown-ca",
  UNABLE_TO_GET_ISSUER_CERT: "unknown-ca",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unknown-ca",
  SELF_SIGNED_CERT_IN_CHAIN: "unknown-ca",
  DEPTH_ZERO_SELF_SIGNED_CERT: "unknown-ca",
  CERT_UNTRUSTED: "unknown-ca",
  CERT_SIGNATURE_FAILURE: "unknown-ca",
  ERR_TLS_CERT_ALTNAME_INVALID: "hostname-mismatch",
  HOSTNAME_MISMATCH: "hostname-mismatch",
  IP_ADDRESS_MISMATCH: "hostname-mismatch",
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not-yet-valid"
}

const messages: Readonly<Record<Exclude<TlsFailure, "other">, (endpoint: Endpoint) => string>> = {
  "unknown-ca": () => "TLS: the broker's certificate is not signed by a trusted CA (unknown CA); pass the CA as tls.ca",
  "hostname-mismatch": (endpoint) =>
    `TLS: the broker's certificate is not valid for ${JSON.stringify(endpoint.tls?.servername ?? endpoint.host)} (hostname mismatch)`,
  "expired": () => "TLS: the broker's certificate has expired",
  "not-yet-valid": () => "TLS: the broker's certificate is not valid yet"
}

/**
 * Classifies a failed TLS connection by Node's error code; `undefined` when the failure is not a TLS
 * one (e.g. connection refused, timeout).
 */
const tlsError = (error: Socket.SocketError, endpoint: Endpoint): TlsError | undefined => {
  const cause = errorOf(error.reason.cause)
  const code = cause !== undefined && "code" in cause && typeof cause.code === "string" ? cause.code : undefined
  if (cause === undefined || code === undefined) return undefined
  const reason = failures[code]
  if (reason !== undefined) return new TlsError({ reason, message: messages[reason](endpoint), code })
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code.includes("CERT")) {
    return new TlsError({ reason: "other", message: `TLS handshake failed: ${cause.message} (${code})`, code })
  }
  return undefined
}
