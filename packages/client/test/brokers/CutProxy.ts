/**
 * A TCP proxy between a client and a broker that can break the network on demand: cut every connection,
 * cut after N bytes (even mid-packet), freeze forwarding (pause) and refuse or black-hole new connections.
 */
import { Effect, type Scope } from "effect"
import * as Net from "node:net"
import { BrokerError, HOST } from "./internal.ts"

/** Which way bytes flow: `up` = client → broker, `down` = broker → client. */
export type CutDirection = "up" | "down"

/** Options of {@link CutProxy.start}. */
export interface CutProxyOptions {
  /** Port of the upstream broker on 127.0.0.1. */
  readonly target: number
  /** Port for the proxy itself. Default: ephemeral. */
  readonly port?: number
}

/** Byte and connection counters of a {@link CutProxyHandle}. */
export interface CutProxyStats {
  /** Bytes forwarded client → broker, over all connections. */
  readonly bytesUp: number
  /** Bytes forwarded broker → client, over all connections. */
  readonly bytesDown: number
  /** Client connections accepted so far. */
  readonly connections: number
  /** Connection pairs currently open. */
  readonly active: number
  /** Connections cut by the proxy (cutAll, resetAll, cutAfterBytes). */
  readonly cuts: number
}

/** A running proxy, owned by a scope. */
export interface CutProxyHandle {
  /** The proxy's own port: point the client here. */
  readonly port: number
  readonly host: string
  /** `mqtt://127.0.0.1:PORT` of the proxy. */
  readonly url: string
  /** The upstream port. */
  readonly target: number
  /** Closes (FIN) both sides of every current connection pair. */
  readonly cutAll: Effect.Effect<void>
  /** Resets (RST) both sides of every current connection pair. */
  readonly resetAll: Effect.Effect<void>
  /**
   * Cuts each connection after `n` more bytes in `direction` (both directions counted together when omitted):
   * exactly `n` bytes are forwarded (a chunk is truncated), then both sockets are closed. Current connections
   * count from now, future ones from their start, until {@link CutProxyHandle.clearCut}.
   */
  readonly cutAfterBytes: (n: number, direction?: CutDirection) => Effect.Effect<void>
  /** Removes the `cutAfterBytes` rule (connections already cut stay cut). */
  readonly clearCut: Effect.Effect<void>
  /**
   * Stops forwarding without closing anything (a frozen network): bytes stay in the kernel buffers, new
   * connections are accepted but nothing flows. {@link CutProxyHandle.resume} delivers what was held.
   */
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  /**
   * What to do with new client connections: `"forward"` (default), `"refuse"` (accept then close at once,
   * like a dead broker behind a live load balancer) or `"blackhole"` (accept, never forward, never answer).
   */
  readonly setMode: (mode: "forward" | "refuse" | "blackhole") => Effect.Effect<void>
  /** Current counters. */
  readonly stats: Effect.Effect<CutProxyStats>
  /** Current counters, synchronously. */
  readonly statsNow: () => CutProxyStats
}

interface Pair {
  readonly client: Net.Socket
  readonly upstream: Net.Socket | undefined
  /** Remaining bytes before the cut, per rule; `undefined` = no rule. */
  budget: number | undefined
  budgetDirection: CutDirection | undefined
  dead: boolean
}

/** Starts TCP proxies. */
export const CutProxy = {
  /**
   * Listens on 127.0.0.1 (ephemeral port) and forwards each connection to 127.0.0.1:`target`.
   * On scope close: destroys every connection and closes the server.
   */
  start: (options: CutProxyOptions): Effect.Effect<CutProxyHandle, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      const pairs = new Set<Pair>()
      let bytesUp = 0
      let bytesDown = 0
      let connections = 0
      let cuts = 0
      let paused = false
      let mode: "forward" | "refuse" | "blackhole" = "forward"
      let rule: { readonly n: number; readonly direction: CutDirection | undefined } | undefined
      const held = new Set<Net.Socket>()

      const kill = (pair: Pair, how: "close" | "reset") => {
        if (pair.dead) return
        pair.dead = true
        cuts += 1
        for (const s of [pair.client, pair.upstream]) {
          if (s === undefined) continue
          if (how === "reset") s.resetAndDestroy()
          else s.destroy()
        }
        pairs.delete(pair)
      }

      const forward = (pair: Pair, from: Net.Socket, to: Net.Socket, direction: CutDirection) => {
        from.on("data", (chunk: Buffer) => {
          if (pair.dead) return
          let data = chunk
          const counted = pair.budget !== undefined &&
            (pair.budgetDirection === undefined || pair.budgetDirection === direction)
          let cutNow = false
          if (counted && pair.budget !== undefined) {
            if (data.length >= pair.budget) {
              data = data.subarray(0, pair.budget)
              cutNow = true
            }
            pair.budget -= data.length
          }
          if (direction === "up") bytesUp += data.length
          else bytesDown += data.length
          if (cutNow) {
            if (data.length > 0) to.write(data, () => kill(pair, "close"))
            else kill(pair, "close")
            from.pause()
            return
          }
          if (!to.write(data)) {
            from.pause()
            to.once("drain", () => {
              if (!paused && !pair.dead) from.resume()
            })
          }
        })
        from.on("end", () => to.end())
        from.on("close", () => kill2(pair))
        from.on("error", () => kill2(pair))
      }
      // a side closed by itself: tear the pair down without counting it as a cut
      const kill2 = (pair: Pair) => {
        if (pair.dead) return
        pair.dead = true
        pair.client.destroy()
        pair.upstream?.destroy()
        pairs.delete(pair)
      }

      const server = yield* Effect.acquireRelease(
        Effect.callback<Net.Server, BrokerError>((resume) => {
          const srv = Net.createServer((client) => {
            connections += 1
            if (mode === "refuse") {
              client.destroy()
              return
            }
            if (mode === "blackhole") {
              held.add(client)
              client.on("error", () => undefined)
              client.once("close", () => held.delete(client))
              client.pause()
              return
            }
            const upstream = Net.createConnection({ host: HOST, port: options.target })
            const pair: Pair = {
              client,
              upstream,
              budget: rule?.n,
              budgetDirection: rule?.direction,
              dead: false
            }
            pairs.add(pair)
            client.pause()
            upstream.pause()
            upstream.once("connect", () => {
              if (!paused && !pair.dead) {
                client.resume()
                upstream.resume()
              }
            })
            forward(pair, client, upstream, "up")
            forward(pair, upstream, client, "down")
          })
          srv.once("error", (cause) =>
            resume(Effect.fail(new BrokerError({ message: `proxy cannot listen: ${String(cause)}`, cause }))))
          srv.listen(options.port ?? 0, HOST, () => resume(Effect.succeed(srv)))
        }),
        (srv) =>
          Effect.callback<void>((resume) => {
            for (const p of [...pairs]) kill2(p)
            for (const s of held) s.destroy()
            srv.close(() => resume(Effect.void))
          })
      )
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const statsNow = (): CutProxyStats => ({ bytesUp, bytesDown, connections, active: pairs.size, cuts })

      const handle: CutProxyHandle = {
        port,
        host: HOST,
        url: `mqtt://${HOST}:${port}`,
        target: options.target,
        cutAll: Effect.sync(() => {
          for (const p of [...pairs]) kill(p, "close")
        }),
        resetAll: Effect.sync(() => {
          for (const p of [...pairs]) kill(p, "reset")
        }),
        cutAfterBytes: (n, direction) =>
          Effect.sync(() => {
            rule = { n, direction }
            for (const p of [...pairs]) {
              p.budget = n
              p.budgetDirection = direction
              if (n <= 0) kill(p, "close")
            }
          }),
        clearCut: Effect.sync(() => {
          rule = undefined
          for (const p of pairs) {
            p.budget = undefined
            p.budgetDirection = undefined
          }
        }),
        pause: Effect.sync(() => {
          paused = true
          for (const p of pairs) {
            p.client.pause()
            p.upstream?.pause()
          }
        }),
        resume: Effect.sync(() => {
          paused = false
          for (const p of pairs) {
            if (p.upstream !== undefined && p.upstream.connecting) continue
            p.client.resume()
            p.upstream?.resume()
          }
        }),
        setMode: (m) =>
          Effect.sync(() => {
            mode = m
          }),
        stats: Effect.sync(statsNow),
        statsNow
      }
      return handle
    })
}
