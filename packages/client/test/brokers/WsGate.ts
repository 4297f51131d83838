/**
 * A gate in front of a broker's WebSocket listener: an HTTP server on 127.0.0.1 that records every opening
 * handshake (request target and headers), lets a test decide whether it passes (e.g. an expired token in the
 * query string or a header gets `401`), forwards accepted ones byte for byte to the broker, and can cut every
 * connection it forwards (to force a reconnect).
 */
import { Effect, type Scope } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import { BrokerError, HOST, Observed } from "./internal.ts"

/** One WebSocket opening handshake as the gate saw it. */
export interface WsHandshake {
  /** The request target: path and query, e.g. `/mqtt?token=t1`. */
  readonly url: string
  /** The headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  /** Whether the gate let it through (`false`: answered with the refusal's status). */
  readonly accepted: boolean
}

/** Options of {@link WsGate.start}. */
export interface WsGateOptions {
  /** Port of the broker's WebSocket listener on 127.0.0.1. */
  readonly target: number
  /** Which handshakes pass; the others get `401 Unauthorized`. Default: all. */
  readonly accept?: (handshake: Omit<WsHandshake, "accepted">) => boolean
  /** The status the refused ones get. Default: `401 Unauthorized`. */
  readonly refuseWith?: 401 | 403 | 503
}

const statusLines: Readonly<Record<number, string>> = { 401: "401 Unauthorized", 403: "403 Forbidden", 503: "503 Service Unavailable" }

/** A running gate, owned by a scope. */
export interface WsGateHandle {
  readonly port: number
  /** `ws://127.0.0.1:PORT`. */
  readonly url: string
  /** Every handshake so far, in order; wait on it with `waitFor`. */
  readonly handshakes: Observed<WsHandshake>
  /** Destroys every forwarded connection (both sides). */
  readonly cutAll: Effect.Effect<void>
}

/** Starts gates in front of WebSocket listeners. */
export const WsGate = {
  /** Listens on 127.0.0.1 (ephemeral port); on scope close destroys every connection and closes the server. */
  start: (options: WsGateOptions): Effect.Effect<WsGateHandle, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      const handshakes = new Observed<WsHandshake>()
      const sockets = new Set<Net.Socket>()
      const track = (socket: Net.Socket) => {
        sockets.add(socket)
        socket.on("error", () => undefined)
        socket.once("close", () => sockets.delete(socket))
      }
      const server = Http.createServer((_request, response) => {
        response.writeHead(426, { connection: "close" }).end()
      })
      server.on("upgrade", (request: Http.IncomingMessage, client: Net.Socket, head: Buffer) => {
        track(client)
        const seen = { url: request.url ?? "", headers: { ...request.headers } }
        const accepted = options.accept?.(seen) ?? true
        handshakes.push({ ...seen, accepted })
        if (!accepted) {
          client.end(`HTTP/1.1 ${statusLines[options.refuseWith ?? 401]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
          return
        }
        const upstream = Net.createConnection({ host: HOST, port: options.target })
        track(upstream)
        const lines = [`${request.method ?? "GET"} ${request.url ?? "/"} HTTP/${request.httpVersion}`]
        for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`)
        upstream.write(lines.join("\r\n") + "\r\n\r\n")
        if (head.length > 0) upstream.write(head)
        upstream.pipe(client)
        client.pipe(upstream)
        upstream.once("close", () => client.destroy())
        client.once("close", () => upstream.destroy())
      })
      const port = yield* Effect.acquireRelease(
        Effect.callback<number, BrokerError>((resume) => {
          server.once("error", (cause) => resume(Effect.fail(new BrokerError({ message: `WsGate cannot listen: ${String(cause)}`, cause }))))
          server.listen(0, HOST, () => {
            const address = server.address()
            resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
          })
        }),
        () =>
          Effect.callback<void>((resume) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => resume(Effect.void))
          })
      )
      return {
        port,
        url: `ws://${HOST}:${port}`,
        handshakes,
        cutAll: Effect.sync(() => {
          for (const socket of [...sockets]) socket.destroy()
        })
      }
    })
}
