/**
 * What a transport is: the URL schemes it answers to, its default port, how its URLs name the broker,
 * whether the `tls` options apply, and how it connects (a {@link Channel}: a duplex byte stream).
 * Built-in transports and the user's own are made the same way, with {@link make}.
 *
 * @since 0.4.0
 */
import { type Duration, Effect, type Scope } from "effect"
import { Socket } from "effect/socket"
import type { ConnectError } from "../errors.ts"
import type { Endpoint } from "../Options.ts"

/**
 * A connected duplex byte stream.
 *
 * @since 0.1.0
 * @category transports
 */
export interface Channel {
  /** The next batch of received chunks; fails with `SocketError` at EOF or on a socket error. */
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, Socket.SocketError>
  /** Writes chunks as one corked batch (one WebSocket frame), waiting for the socket to drain when its buffer is full. */
  readonly write: (chunks: readonly [Uint8Array, ...Array<Uint8Array>]) => Effect.Effect<void, Socket.SocketError>
}

/**
 * How a transport's URLs name the broker:
 * - `"host"`: `scheme://[user[:password]@]host[:port]`; a path is ignored and a query fails (it would be
 *   ignored too), e.g. `mqtt://`, `mqtts://`.
 * - `"http"`: like an HTTP URL, host, port, path and query; a URL without a path takes the `wsPath` option
 *   (default `/mqtt`), e.g. `ws://`, `wss://`. The endpoint's `path` holds the path and the query.
 * - `"file"`: a file-system path, `scheme:///path/to/socket` (three slashes: no host, no port); the endpoint's
 *   `path` holds it, percent-decoded, e.g. `mqtt+unix://`.
 *
 * @since 0.4.0
 * @category transports
 */
export type Address = "host" | "http" | "file"

/**
 * A transport: connects to the endpoints whose URL scheme is one of its `schemes`. Make one with {@link make};
 * register it with `Transport.layer`.
 *
 * @since 0.4.0
 * @category transports
 */
export interface Transport {
  /**
   * The URL schemes, in lower case without `:`; the first is the canonical one: `Endpoint.protocol` and
   * messages use it (`tcp://h` is the endpoint `{ protocol: "mqtt", ... }`).
   */
  readonly schemes: readonly [string, ...Array<string>]
  /** The port of a URL that names none (`"host"` and `"http"` addresses); `undefined`: such a URL needs one. */
  readonly defaultPort: number | undefined
  /** How its URLs name the broker (see {@link Address}). */
  readonly address: Address
  /** The `tls` options apply to its endpoints (`Endpoint.tls` is set): a TLS transport. */
  readonly secure: boolean
  /**
   * Opens a connection to `endpoint` within `timeout`; the connection lives as long as the scope. A
   * `Socket.SocketError` becomes a `ConnectError` naming the endpoint (for a `secure` transport, a failed
   * handshake has a `TlsError` cause); a `ConnectError` is passed on as it is.
   */
  readonly connect: (
    endpoint: Endpoint,
    timeout: Duration.Duration
  ) => Effect.Effect<Channel, ConnectError | Socket.SocketError, Scope.Scope>
}

/**
 * What {@link make} takes: {@link Transport} with `defaultPort`, `address` (default `"host"`) and `secure`
 * (default false) optional.
 *
 * @since 0.4.0
 * @category transports
 */
export interface TransportOptions {
  readonly schemes: readonly [string, ...Array<string>]
  readonly defaultPort?: number
  readonly address?: Address
  readonly secure?: boolean
  readonly connect: Transport["connect"]
}

/**
 * Makes a transport. Schemes are matched case-insensitively (a trailing `:` is dropped: `"mem:"` is
 * `"mem"`). A URL naming a scheme that is not a valid URL scheme (RFC 3986 §3.1: a letter, then letters,
 * digits, `+`, `-`, `.`) cannot reach it.
 *
 * @example
 * // A transport for `mem://name` URLs, over a Channel of the program's own
 * const memory = Transport.make({ schemes: ["mem"], defaultPort: 0, connect: (endpoint) => channelFor(endpoint.host) })
 * MqttClient.layer({ url: "mem://broker" }).pipe(Layer.provide(Transport.layer(memory)))
 * @since 0.4.0
 * @category transports
 */
export const make = (options: TransportOptions): Transport => ({
  schemes: options.schemes.map((scheme) => scheme.toLowerCase().replace(/:$/, "")) as unknown as readonly [string, ...Array<string>],
  defaultPort: options.defaultPort,
  address: options.address ?? "host",
  secure: options.secure ?? false,
  connect: options.connect
})

/**
 * The {@link Channel} of an Effect `Socket` carrying a byte stream (TCP, TLS, a Unix domain socket, a
 * Node `Duplex` through `NodeSocket.fromDuplex`). Acquiring it dials the socket; the connection lives as
 * long as the scope.
 *
 * @since 0.4.0
 * @category transports
 */
export const fromSocket = (socket: Socket.Socket): Effect.Effect<Channel, Socket.SocketError, Scope.Scope> =>
  Effect.gen(function*() {
    // Reader and writer must share one scope: each reader acquisition dials a new connection.
    const pull = yield* Socket.readerBytes(socket)
    const writer = yield* socket.writer
    return { pull, write: writer.writeAll }
  })

/**
 * The {@link Channel} of an Effect WebSocket `Socket`, as MQTT over WebSocket wants it [MQTT-6.0]: each
 * write is one binary frame; a text frame from the broker is a protocol violation that fails `pull`
 * [MQTT-6.0.0-1]. A packet may span frames and a frame may hold several packets [MQTT-6.0.0-2]: the
 * client's streaming decoder does not care.
 *
 * @since 0.4.0
 * @category transports
 */
export const fromWebSocket = (socket: Socket.Socket): Effect.Effect<Channel, Socket.SocketError, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* binaryFrames(socket)
    const writer = yield* socket.writer
    return { pull, write: (chunks) => writer.write(chunks.length === 1 ? chunks[0] : concat(chunks)) }
  })

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
