/**
 * A TCP proxy between a client and a broker that can break the network on demand: cut every connection,
 * cut after N bytes (even mid-packet), cut every connection after a random delay, cut (or black-hole) right
 * after the Nth MQTT packet of a given type crosses in a given direction, freeze forwarding (pause) and
 * refuse or black-hole new connections.
 */
import { Effect, type Scope } from "effect"
import * as Net from "node:net"
import { BrokerError, HOST, listen } from "./internal.ts"

/** Which way bytes flow: `up` = client → broker, `down` = broker → client. */
export type CutDirection = "up" | "down"

/** MQTT control packet types, by the type nibble of the fixed header [MQTT-2.2.1]. */
export const PacketTypes = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14
} as const

/** The name of an MQTT control packet type, e.g. `"PUBREC"`. */
export type PacketTypeName = keyof typeof PacketTypes

/**
 * A one-shot rule of {@link CutProxyHandle.cutAfterPacket}: once the `nth` packet of `type` has crossed the
 * proxy in `direction` (counted over all connections from the moment the rule is set), that packet is
 * forwarded whole and the connection it travelled on is cut.
 */
export interface PacketCut {
  readonly type: PacketTypeName
  readonly direction: CutDirection
  /** Which matching packet triggers the cut, from 1. Default 1. */
  readonly nth?: number
  /**
   * `"close"` (default): both sides get a FIN right after the packet (later bytes in either direction are
   * dropped), then both sockets are destroyed. `"blackhole"`: both sockets stay open but nothing more is
   * forwarded either way (a silently dead network path).
   */
  readonly action?: "close" | "blackhole"
}

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
  /** Connections cut by the proxy (cutAll, resetAll, cutAfterBytes, cutEachAfter, cutAfterPacket). */
  readonly cuts: number
  /** How many {@link CutProxyHandle.cutAfterPacket} rules fired (cut or black-holed a connection). */
  readonly packetCuts: number
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
   * exactly `n` bytes are forwarded (a chunk is truncated), then both sides get a FIN (later bytes are
   * dropped) and the sockets are destroyed. Current connections
   * count from now, future ones from their start, until {@link CutProxyHandle.clearCut}.
   */
  readonly cutAfterBytes: (n: number, direction?: CutDirection) => Effect.Effect<void>
  /**
   * Like {@link CutProxyHandle.cutAfterBytes}, with each connection's budget drawn uniformly from
   * `[minBytes, maxBytes]`: every connection dies after a random amount of traffic, often mid-packet. Unlike
   * {@link CutProxyHandle.cutEachAfter}, how many cuts a run sees depends on how much it sends, not on how
   * fast the machine is.
   */
  readonly cutEachAfterBytes: (minBytes: number, maxBytes: number, direction?: CutDirection) => Effect.Effect<void>
  /**
   * Removes the `cutAfterBytes`, `cutEachAfter` and `cutAfterPacket` rules (connections already cut stay cut;
   * timers already running on current connections are cancelled).
   */
  readonly clearCut: Effect.Effect<void>
  /**
   * Cuts (closes) every connection after a random delay, uniform in `[minMs, maxMs]`: current connections
   * count from now, future ones from when they are accepted, until {@link CutProxyHandle.clearCut}.
   */
  readonly cutEachAfter: (minMs: number, maxMs: number) => Effect.Effect<void>
  /**
   * Arms a one-shot packet-aware cut (see {@link PacketCut}); replaces an armed one. The proxy parses the MQTT
   * fixed header (type nibble + remaining-length varint) of every packet in both directions.
   */
  readonly cutAfterPacket: (rule: PacketCut) => Effect.Effect<void>
  /**
   * Packets of `type` seen crossing in `direction` so far, over all connections (forwarded whole or not:
   * a packet counts once its last byte was received by the proxy).
   */
  readonly packetCount: (type: PacketTypeName, direction: CutDirection) => number
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

/** Incremental MQTT framing of one direction of one connection: where the current packet ends. */
interface Framer {
  state: "type" | "length" | "body"
  type: number
  length: number
  multiplier: number
  remaining: number
}

const newFramer = (): Framer => ({ state: "type", type: 0, length: 0, multiplier: 1, remaining: 0 })

/**
 * Walks `data` through the framer; calls `onPacket(type)` each time a packet ends. Returns the offset just
 * past the first packet for which `onPacket` answered `true`, or -1.
 */
const scanPackets = (f: Framer, data: Buffer, onPacket: (type: number) => boolean): number => {
  let i = 0
  while (i < data.length) {
    if (f.state === "type") {
      f.type = (data[i] as number) >> 4
      f.length = 0
      f.multiplier = 1
      f.state = "length"
      i += 1
      continue
    }
    if (f.state === "length") {
      const byte = data[i] as number
      i += 1
      f.length += (byte & 0x7f) * f.multiplier
      f.multiplier *= 128
      if ((byte & 0x80) !== 0) continue
      f.remaining = f.length
      f.state = "body"
    } else {
      const take = Math.min(f.remaining, data.length - i)
      i += take
      f.remaining -= take
    }
    if (f.state === "body" && f.remaining === 0) {
      f.state = "type"
      if (onPacket(f.type)) return i
    }
  }
  return -1
}

interface Pair {
  readonly client: Net.Socket
  readonly upstream: Net.Socket | undefined
  /** Remaining bytes before the cut, per rule; `undefined` = no rule. */
  budget: number | undefined
  budgetDirection: CutDirection | undefined
  dead: boolean
  /** Black-holed by a packet rule: open, forwarding nothing. */
  blackholed: boolean
  timer: ReturnType<typeof setTimeout> | undefined
  readonly framers: { readonly up: Framer; readonly down: Framer }
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
      let rule: { readonly min: number; readonly max: number; readonly direction: CutDirection | undefined } | undefined
      const budgetOf = (r: NonNullable<typeof rule>): number => Math.round(r.min + Math.random() * (r.max - r.min))
      let randomCut: { readonly min: number; readonly max: number } | undefined
      let packetRule: { readonly type: number; readonly direction: CutDirection; left: number; readonly action: "close" | "blackhole" } | undefined
      let packetCuts = 0
      let lastPacketAction: "close" | "blackhole" = "close"
      const packetCounts = new Map<string, number>()
      const held = new Set<Net.Socket>()

      const armTimer = (pair: Pair) => {
        if (pair.timer !== undefined) clearTimeout(pair.timer)
        pair.timer = undefined
        if (randomCut === undefined) return
        const delay = randomCut.min + Math.random() * (randomCut.max - randomCut.min)
        pair.timer = setTimeout(() => kill(pair, "close"), delay)
      }

      const kill = (pair: Pair, how: "close" | "reset") => {
        if (pair.dead) return
        pair.dead = true
        if (pair.timer !== undefined) clearTimeout(pair.timer)
        cuts += 1
        for (const s of [pair.client, pair.upstream]) {
          if (s === undefined) continue
          if (how === "reset") s.resetAndDestroy()
          else s.destroy()
        }
        pairs.delete(pair)
      }

      /** Forwards `data` (the end of the triggering packet), then FIN both ways; later bytes are dropped. */
      const sever = (pair: Pair, to: Net.Socket, data: Buffer) => {
        if (pair.dead) return
        pair.dead = true
        if (pair.timer !== undefined) clearTimeout(pair.timer)
        cuts += 1
        pairs.delete(pair)
        const destroy = () => {
          pair.client.destroy()
          pair.upstream?.destroy()
        }
        // FIN rather than RST: a socket destroyed with unread input sends RST, which can make the peer
        // discard the packet we just forwarded. Keep reading (and dropping) until the peers close.
        if (data.length > 0) to.write(data)
        pair.client.end()
        pair.upstream?.end()
        setTimeout(destroy, 200).unref()
      }

      /** Counts the packets ending in `data`; returns the offset past the packet that fires the packet rule, or -1. */
      const packetScan = (pair: Pair, data: Buffer, direction: CutDirection): number =>
        scanPackets(pair.framers[direction], data, (type) => {
          const key = `${direction}:${type}`
          packetCounts.set(key, (packetCounts.get(key) ?? 0) + 1)
          const armed = packetRule
          if (armed === undefined || armed.type !== type || armed.direction !== direction) return false
          armed.left -= 1
          if (armed.left > 0) return false
          packetRule = undefined
          packetCuts += 1
          lastPacketAction = armed.action
          return true
        })

      const forward = (pair: Pair, from: Net.Socket, to: Net.Socket, direction: CutDirection) => {
        from.on("data", (chunk: Buffer) => {
          if (pair.dead || pair.blackholed) return
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
          const packetEnd = packetScan(pair, data, direction)
          if (packetEnd >= 0) {
            const action = lastPacketAction
            data = data.subarray(0, packetEnd)
            if (direction === "up") bytesUp += data.length
            else bytesDown += data.length
            if (action === "blackhole") {
              pair.blackholed = true
              if (pair.timer !== undefined) clearTimeout(pair.timer)
              cuts += 1
              if (data.length > 0) to.write(data)
            } else {
              sever(pair, to, data)
            }
            return
          }
          if (direction === "up") bytesUp += data.length
          else bytesDown += data.length
          if (cutNow) {
            // FIN, as for a packet cut: what was forwarded reaches the peer (a RST could make it drop the
            // acknowledgements it had not read yet, and a peer that re-sends its whole backlog on every
            // connection would then never get further).
            sever(pair, to, data)
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
        if (pair.timer !== undefined) clearTimeout(pair.timer)
        pair.client.destroy()
        pair.upstream?.destroy()
        pairs.delete(pair)
      }

      const { port } = yield* listen(
        "proxy",
        (client) => {
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
            budget: rule === undefined ? undefined : budgetOf(rule),
            budgetDirection: rule?.direction,
            dead: false,
            blackholed: false,
            timer: undefined,
            framers: { up: newFramer(), down: newFramer() }
          }
          pairs.add(pair)
          armTimer(pair)
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
        },
        {
          port: options.port,
          beforeClose: () => {
            for (const p of [...pairs]) kill2(p)
          }
        }
      )
      const setByteRule = (next: NonNullable<typeof rule>) =>
        Effect.sync(() => {
          rule = next
          for (const p of [...pairs]) {
            p.budget = budgetOf(next)
            p.budgetDirection = next.direction
            if (p.budget <= 0) kill(p, "close")
          }
        })
      const statsNow = (): CutProxyStats => ({ bytesUp, bytesDown, connections, active: pairs.size, cuts, packetCuts })

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
        cutAfterBytes: (n, direction) => setByteRule({ min: n, max: n, direction }),
        cutEachAfterBytes: (minBytes, maxBytes, direction) =>
          setByteRule({ min: Math.min(minBytes, maxBytes), max: Math.max(minBytes, maxBytes), direction }),
        clearCut: Effect.sync(() => {
          rule = undefined
          randomCut = undefined
          packetRule = undefined
          for (const p of pairs) {
            p.budget = undefined
            p.budgetDirection = undefined
            armTimer(p)
          }
        }),
        cutEachAfter: (minMs, maxMs) =>
          Effect.sync(() => {
            randomCut = { min: Math.min(minMs, maxMs), max: Math.max(minMs, maxMs) }
            for (const p of pairs) armTimer(p)
          }),
        cutAfterPacket: (cut) =>
          Effect.sync(() => {
            packetRule = {
              type: PacketTypes[cut.type],
              direction: cut.direction,
              left: Math.max(1, cut.nth ?? 1),
              action: cut.action ?? "close"
            }
          }),
        packetCount: (type, direction) => packetCounts.get(`${direction}:${PacketTypes[type]}`) ?? 0,
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
