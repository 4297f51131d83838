/**
 * Tunnels to the broker through the proxy of the `proxy` option (Node only):
 * - `http://`: HTTP CONNECT (RFC 9110 §9.3.6) over Node's own `http.request`, with Basic credentials
 *   (`Proxy-Authorization`, RFC 9110 §11.7.2);
 * - `socks5://`, `socks5h://`, `socks4://`, `socks4a://`: SOCKS (RFC 1928, user name / password RFC 1929; SOCKS4
 *   and 4a) through the `socks` package, an optional peer dependency loaded on first use.
 *
 * {@link tunnel} yields a connected `net.Socket` whose bytes go to the broker; the transports then speak
 * MQTT, TLS or WebSocket on it. Every failure is a `ProxyError` whose message names the proxy without its
 * password.
 *
 * @internal
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Effect, Redacted, type Scope } from "effect"
import { Socket } from "effect/socket"
import * as Dns from "node:dns"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { ProxyError, type ProxyFailure } from "../errors.ts"
import { waitingFor } from "./Progress.ts"
import { describeProxy, hostPort, type ProxyEndpoint } from "./ProxyUrl.ts"

/** Where the tunnel goes: the broker's host (a name or an IP address) and port. */
export interface TunnelTarget {
  readonly host: string
  readonly port: number
}

const failure = (proxy: ProxyEndpoint, reason: ProxyFailure, detail: string, status?: number) =>
  new ProxyError({
    reason,
    proxy: describeProxy(proxy),
    message: `proxy ${describeProxy(proxy)}: ${detail}`,
    ...(status !== undefined ? { status } : {})
  })

/** A Node error's `code` (`ECONNREFUSED`, ...) and message, without anything else it may carry. */
const describeCause = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const code = "code" in cause && typeof cause.code === "string" ? cause.code : undefined
  return code !== undefined && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message
}

/**
 * A TCP connection to the proxy itself; fails with `unreachable`. The socket keeps an `error` listener for
 * its whole life: between the handshake and the transport's own listeners an error must not crash the process.
 */
const connectToProxy = (proxy: ProxyEndpoint): Effect.Effect<Net.Socket, ProxyError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket, ProxyError>((resume) => {
      const socket = Net.createConnection({ host: proxy.host, port: proxy.port, noDelay: true })
      let connected = false
      socket.on("error", (cause) => {
        if (!connected) resume(Effect.fail(failure(proxy, "unreachable", `cannot connect to the proxy: ${describeCause(cause)}`)))
      })
      socket.once("connect", () => {
        connected = true
        resume(Effect.succeed(socket))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** An HTTP status of a refused CONNECT, as a reason and a hint. */
const httpRefusal = (status: number): { readonly reason: ProxyFailure; readonly hint: string } => {
  if (status === 407 || status === 401) {
    return { reason: "authentication", hint: "check the proxy's user name and password (the proxy option's URL)" }
  }
  // 502/503/504 by RFC 9110 §15.6 (squid: 503); tinyproxy answers 500 "Unable to connect"
  if (status >= 500 && status < 600) return { reason: "broker-unreachable", hint: "the proxy could not reach the broker" }
  if (status >= 400 && status < 500) return { reason: "refused", hint: "the proxy does not allow this tunnel (host or port)" }
  return { reason: "protocol", hint: "expected 200 to a CONNECT request" }
}

/**
 * HTTP CONNECT on an open connection to the proxy (RFC 9110 §9.3.6): any 2xx opens the tunnel; bytes the
 * proxy already forwarded after its answer are put back into the socket.
 */
const httpConnect = (proxy: ProxyEndpoint, socket: Net.Socket, target: TunnelTarget): Effect.Effect<Net.Socket, ProxyError> =>
  Effect.callback<Net.Socket, ProxyError>((resume) => {
    const authority = hostPort(target.host, target.port)
    const headers: Record<string, string> = { host: authority }
    if (proxy.username !== undefined) {
      const secret = proxy.password === undefined ? "" : Redacted.value(proxy.password)
      headers["proxy-authorization"] = `Basic ${Buffer.from(`${proxy.username}:${secret}`, "utf8").toString("base64")}`
    }
    let settled = false
    const request = Http.request({
      method: "CONNECT",
      path: authority,
      headers,
      setHost: false,
      createConnection: () => socket
    })
    request.once("connect", (response: Http.IncomingMessage, tunnelled: Net.Socket, head: Buffer) => {
      settled = true
      const status = response.statusCode ?? 0
      if (status >= 200 && status < 300) {
        if (head.length > 0) tunnelled.unshift(head)
        resume(Effect.succeed(tunnelled))
        return
      }
      tunnelled.destroy()
      const { hint, reason } = httpRefusal(status)
      const text = `${status}${response.statusMessage !== undefined && response.statusMessage !== "" ? ` ${response.statusMessage}` : ""}`
      resume(Effect.fail(failure(proxy, reason, `refused the tunnel to ${authority}: ${text}; ${hint}`, status)))
    })
    request.once("error", (cause) => {
      if (settled) return
      settled = true
      resume(Effect.fail(failure(proxy, "protocol", `no answer to CONNECT ${authority}: ${describeCause(cause)}`)))
    })
    request.end()
    return Effect.sync(() => {
      request.destroy()
      socket.destroy()
    })
  })

/** The `socks` package (an optional peer dependency), loaded on first use. */
const loadSocks = (proxy: ProxyEndpoint) =>
  Effect.tryPromise({
    try: () => import("socks"),
    catch: () =>
      failure(proxy, "unsupported", "a SOCKS proxy needs the optional package \"socks\" (npm install socks)")
  })

/** The broker's address for a proxy that does not resolve names itself (`socks5://`, `socks4://`). */
const resolveLocally = (proxy: ProxyEndpoint, host: string, family: 0 | 4): Effect.Effect<string, ProxyError> =>
  Net.isIP(host) !== 0
    ? Effect.succeed(host)
    : Effect.tryPromise({
      try: () => Dns.promises.lookup(host, { family }),
      catch: (cause) =>
        failure(
          proxy,
          "broker-unreachable",
          `cannot resolve the broker's host ${JSON.stringify(host)} (${describeCause(cause)}); with socks5h:// the proxy resolves it`
        )
    }).pipe(Effect.map((address) => address.address))

/** SOCKS5 reply codes (RFC 1928 §6) as the `socks` package names them, by reason. */
const socksReplies: Readonly<Record<string, ProxyFailure>> = {
  Failure: "protocol",
  NotAllowed: "refused",
  NetworkUnreachable: "broker-unreachable",
  HostUnreachable: "broker-unreachable",
  ConnectionRefused: "broker-unreachable",
  TTLExpired: "broker-unreachable",
  CommandNotSupported: "protocol",
  AddressNotSupported: "protocol"
}

/**
 * A failure of the `socks` package, by its (constant) message. Its error object also holds the options,
 * password included, so only the message is kept.
 */
const socksFailure = (proxy: ProxyEndpoint, cause: unknown, target: string): ProxyError => {
  const message = cause instanceof Error ? cause.message : String(cause)
  if (message.includes("Authentication failed")) {
    return failure(proxy, "authentication", "the proxy rejected the user name or password (SOCKS5, RFC 1929)")
  }
  if (message.includes("no accepted authentication type")) {
    return failure(
      proxy,
      "authentication",
      proxy.username === undefined
        ? "the proxy requires authentication: give a user name and password in the proxy option"
        : "the proxy accepts none of the offered authentication methods"
    )
  }
  const rejected = /^Socks5 proxy rejected connection - (\w+)/.exec(message)
  if (rejected !== null) {
    const code = rejected[1] ?? ""
    return failure(proxy, socksReplies[code] ?? "protocol", `refused the tunnel to ${target}: ${code}`)
  }
  if (message.startsWith("Socks4 ProxyEndpoint rejected connection")) {
    return failure(proxy, "broker-unreachable", `refused the tunnel to ${target} (SOCKS4 request rejected or failed)`)
  }
  return failure(proxy, "protocol", `SOCKS handshake failed: ${message}`)
}

/** SOCKS on an open connection to the proxy. */
const socksConnect = (proxy: ProxyEndpoint, socket: Net.Socket, target: TunnelTarget): Effect.Effect<Net.Socket, ProxyError> =>
  Effect.gen(function*() {
    const { SocksClient } = yield* loadSocks(proxy)
    const version = proxy.protocol === "socks4" || proxy.protocol === "socks4a" ? 4 : 5
    const host = proxy.protocol === "socks5" || proxy.protocol === "socks4"
      ? yield* resolveLocally(proxy, target.host, version === 4 ? 4 : 0)
      : target.host
    const established = yield* Effect.tryPromise({
      try: () =>
        SocksClient.createConnection({
          command: "connect",
          destination: { host, port: target.port },
          proxy: {
            host: proxy.host,
            port: proxy.port,
            type: version,
            ...(proxy.username !== undefined ? { userId: proxy.username } : {}),
            ...(proxy.password !== undefined ? { password: Redacted.value(proxy.password) } : {})
          },
          existing_socket: socket,
          // the caller bounds the whole attempt (and interrupting destroys the socket)
          timeout: 0x7fffffff
        }),
      catch: (cause) => socksFailure(proxy, cause, hostPort(target.host, target.port))
    })
    // `socks` resumes the socket and re-emits any early bytes on the next turn: let that happen before the
    // transport takes the socket over. An MQTT broker never speaks first [MQTT-3.1.0-1], nor does a TLS or
    // WebSocket server, so there are none.
    yield* Effect.callback<void>((resume) => {
      setImmediate(() => resume(Effect.void))
    })
    established.socket.pause()
    return established.socket
  })

/**
 * Opens a tunnel through `proxy` to `target` and yields the connected socket (closed with the scope).
 * Not bounded in time by itself: the caller's connect timeout interrupts it, which closes the socket.
 * Fails with a {@link ProxyError}.
 */
export const tunnel = (proxy: ProxyEndpoint, target: TunnelTarget): Effect.Effect<Net.Socket, ProxyError, Scope.Scope> =>
  Effect.gen(function*() {
    // What the attempt waits for, should its time run out (see `Progress.ts`).
    yield* waitingFor("the connection to the proxy", (within) =>
      failure(proxy, "unreachable", `cannot connect to the proxy: no connection within ${within}`))
    const socket = yield* connectToProxy(proxy)
    const authority = hostPort(target.host, target.port)
    yield* waitingFor("the proxy's answer", (within) =>
      proxy.protocol === "http"
        ? failure(proxy, "protocol", `no answer to CONNECT ${authority} within ${within}: is it an HTTP proxy (a SOCKS proxy takes socks5://)?`)
        : failure(
          proxy,
          "protocol",
          `no answer to the ${proxy.protocol.startsWith("socks4") ? "SOCKS4" : "SOCKS5"} handshake for ${authority} within ${within}: ` +
            "is it a SOCKS proxy (an HTTP proxy takes http://), and can it reach the broker?"
        ))
    const tunnelled = yield* (proxy.protocol === "http" ? httpConnect(proxy, socket, target) : socksConnect(proxy, socket, target))
    yield* waitingFor("the connection through the proxy")
    return tunnelled
  })

/** A tunnel failure as the `SocketError` the Effect sockets speak; the `ProxyError` stays its cause. */
const asSocketError = <A, R>(effect: Effect.Effect<A, ProxyError, R>): Effect.Effect<A, Socket.SocketError, R> =>
  Effect.mapError(effect, (cause) => new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) }))

/**
 * A TCP `Socket` to `target` through `proxy`: the tunnel is opened when the reader is acquired, within
 * `timeout`, and closed with the reader's scope. A tunnel failure is a `SocketError` whose cause is the `ProxyError`.
 */
export const tunnelledNet = (proxy: ProxyEndpoint, target: TunnelTarget): Effect.Effect<Socket.Socket> =>
  // No timer of its own: the attempt's (`connectTimeout`) names the step it was waiting for.
  NodeSocket.fromDuplex(asSocketError(tunnel(proxy, target)))

/**
 * A TLS `Socket` to `target` through `proxy`: TLS (with `options`: trust, client certificate, SNI) runs end to end
 * with the broker inside the tunnel, so the proxy sees only ciphertext. The certificate is checked against
 * `options.servername`, else `target.host`.
 */
export const tunnelledTls = (
  proxy: ProxyEndpoint,
  target: TunnelTarget,
  options: Tls.ConnectionOptions
): Effect.Effect<Socket.Socket> =>
  NodeSocket.fromDuplex(
    Effect.flatMap(asSocketError(tunnel(proxy, target)), (raw) =>
      Effect.andThen(waitingFor("the TLS handshake with the broker (through the proxy)"), secure(raw, target, options)))
  )

/** TLS on an open socket, destroyed with the scope; a failed handshake is a `SocketError` with Node's error as cause. */
const secure = (
  raw: Net.Socket,
  target: TunnelTarget,
  options: Tls.ConnectionOptions
): Effect.Effect<Tls.TLSSocket, Socket.SocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<Tls.TLSSocket, Socket.SocketError>((resume) => {
      const socket = Tls.connect({ ...options, host: target.host, socket: raw })
      // until the transport's own listeners are attached, an error must not crash the process
      socket.on("error", () => undefined)
      const onError = (cause: Error) =>
        resume(Effect.fail(new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })))
      socket.once("error", onError)
      socket.once("secureConnect", () => {
        socket.off("error", onError)
        resume(Effect.succeed(socket))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/**
 * For the `ws` package's `createConnection` option: opens the tunnel and answers with the function that hands
 * `ws` the connection to speak its handshake on (the tunnelled socket, or TLS on it for `wss://` with
 * `tlsOptions`). The tunnel closes with the scope. Fails with a `SocketError` whose cause is the `ProxyError`.
 */
export const tunnelledConnection = (
  proxy: ProxyEndpoint,
  target: TunnelTarget,
  tlsOptions: Tls.ConnectionOptions | undefined
): Effect.Effect<() => Net.Socket, Socket.SocketError, Scope.Scope> =>
  Effect.map(asSocketError(tunnel(proxy, target)), (raw) =>
    tlsOptions === undefined
      ? () => raw
      : () => Tls.connect({ ...tlsOptions, host: target.host, socket: raw }))
