/**
 * A TLS front for tests of the client's TLS options: a `node:tls` server that demands what a test sets up
 * (an ALPN protocol as AWS IoT Core on port 443, a client certificate, a TLS version, cipher suites) and
 * pipes each accepted connection to a plain listener (e.g. mosquitto's TCP port). It records what it saw
 * of each connection (ALPN protocol, cipher, TLS version, client certificate).
 */
import { Effect } from "effect"
import * as Net from "node:net"
import * as Tls from "node:tls"
import type { CertificateSet } from "./Certificates.ts"

/** What the front saw of each accepted TLS connection. */
export interface Accepted {
  readonly alpn: string | false | null
  readonly cipher: string
  readonly protocol: string | null
  /** The client certificate's CN, when one was presented. */
  readonly peer: string | undefined
}

export interface FrontOptions {
  /** Only clients offering this ALPN protocol are let through: another one is refused in the handshake, none gets the connection closed. */
  readonly alpn?: string
  /** Require a client certificate signed by the test CA. */
  readonly clientCertificate?: boolean
  readonly maxVersion?: Tls.SecureVersion
  readonly ciphers?: string
}

/**
 * A TLS server on 127.0.0.1 (the test CA's `localhost` certificate) that pipes each accepted connection
 * to `127.0.0.1:target`. Closed, with its connections, on scope close.
 */
export const tlsFront = (certs: CertificateSet, target: number, options: FrontOptions = {}) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly port: number; readonly accepted: Array<Accepted>; readonly server: Tls.Server; readonly sockets: Set<Net.Socket> }>((resume) => {
      const accepted: Array<Accepted> = []
      const sockets = new Set<Net.Socket>()
      const wanted = options.alpn
      const server = Tls.createServer({
        key: certs.server.key,
        cert: certs.server.cert,
        ca: certs.ca.cert,
        requestCert: options.clientCertificate === true,
        rejectUnauthorized: options.clientCertificate === true,
        ...(options.maxVersion !== undefined ? { maxVersion: options.maxVersion } : {}),
        ...(options.ciphers !== undefined ? { ciphers: options.ciphers } : {}),
        // Called when the client offers ALPN: anything but the wanted protocol fails the handshake
        // (alert no_application_protocol, RFC 7301 §3.2).
        ...(wanted !== undefined ? { ALPNCallback: ({ protocols }: { readonly protocols: ReadonlyArray<string> }) => (protocols.includes(wanted) ? wanted : undefined) } : {})
      })
      server.on("secureConnection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => socket.destroy())
        const peer = socket.getPeerCertificate()
        accepted.push({
          alpn: socket.alpnProtocol,
          cipher: socket.getCipher().name,
          protocol: socket.getProtocol(),
          peer: typeof peer?.subject?.CN === "string" ? peer.subject.CN : undefined
        })
        // A client that offered no ALPN at all never reached the callback: AWS does not serve it either.
        if (wanted !== undefined && socket.alpnProtocol !== wanted) return socket.destroy()
        const upstream = Net.connect(target, "127.0.0.1")
        sockets.add(upstream)
        upstream.on("close", () => {
          sockets.delete(upstream)
          socket.destroy()
        })
        upstream.on("error", () => socket.destroy())
        socket.on("close", () => upstream.destroy())
        socket.pipe(upstream).pipe(socket)
      })
      server.on("tlsClientError", () => undefined)
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed({ port: typeof address === "object" && address !== null ? address.port : 0, accepted, server, sockets }))
      })
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )

