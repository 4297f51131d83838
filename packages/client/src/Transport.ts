/**
 * Opens the byte stream to the broker. The only module that knows Node sockets: adding a transport
 * (WebSocket, a browser socket) touches this file alone.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Duration, Effect, type Scope } from "effect"
import { Socket } from "effect/socket"
import { ConnectError } from "./errors.ts"
import type { Endpoint } from "./Options.ts"

/** A connected duplex byte stream. @since 0.1.0 */
export interface Channel {
  /** The next batch of received chunks; fails with `SocketError` at EOF or on a socket error. */
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, Socket.SocketError>
  /** Writes chunks as one corked batch, waiting for the socket to drain when its buffer is full. */
  readonly write: (chunks: readonly [Uint8Array, ...Array<Uint8Array>]) => Effect.Effect<void, Socket.SocketError>
}

/**
 * Connects to the endpoint. The socket lives as long as the surrounding scope; closing it ends the
 * connection.
 *
 * @since 0.1.0
 */
export const open = (endpoint: Endpoint, timeout: Duration.Duration): Effect.Effect<Channel, ConnectError, Scope.Scope> =>
  Effect.gen(function*() {
    const options = { host: endpoint.host, port: endpoint.port, openTimeout: timeout, noDelay: true }
    const socket = endpoint.protocol === "mqtts"
      ? yield* NodeSocket.makeTls({ ...options, servername: endpoint.host })
      : yield* NodeSocket.makeNet(options)
    // Reader and writer must share one scope: each reader acquisition dials a new connection.
    const pull = yield* Socket.readerBytes(socket)
    const writer = yield* socket.writer
    return { pull, write: writer.writeAll }
  }).pipe(
    Effect.mapError((error) =>
      new ConnectError({
        message: `could not connect to ${endpoint.protocol}://${endpoint.host}:${endpoint.port}: ${describe(error)}`,
        cause: error
      })
    )
  )

const describe = (error: Socket.SocketError): string => {
  const cause = error.reason.cause
  if (cause instanceof Error) return cause.message
  return error.reason._tag === "SocketOpenError" && error.reason.kind === "Timeout" ? "timed out" : error.message
}
