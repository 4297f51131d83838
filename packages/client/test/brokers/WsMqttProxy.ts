/**
 * A WebSocket proxy between an MQTT client (e.g. a page in Chromium) and a broker's WebSocket listener that
 * sees MQTT packets: it frames both directions into packets, records each one (decoded by the codec) and can
 * swallow the packets a rule picks, e.g. the broker's PUBACK/PUBREC/PUBCOMP, so that publish flows stop half
 * way. (`CutProxy` works on TCP bytes; inside a WebSocket the MQTT framing is hidden from it.)
 */
import { decodePacket, type Packet } from "@aimeqtt/codec"
import { WebSocket, WebSocketServer } from "@effect/platform-node/NodeWS"
import { Effect, type Scope } from "effect"
import { BrokerError, HOST } from "./internal.ts"

/** One packet that crossed (or was swallowed by) the proxy. */
export interface ProxiedPacket {
  /** The client connection it belongs to, from 1, in order of connection. */
  readonly connection: number
  /** `up` = client → broker, `down` = broker → client. */
  readonly direction: "up" | "down"
  /** The packet (MQTT 3.1.1), or `undefined` if it did not decode. */
  readonly packet: Packet<4> | undefined
  /**
   * For PUBLISH and its acknowledgements: the topic of the last PUBLISH sent up with this packet id, on any
   * connection (a flow resumed on a new connection may go on with PUBREL alone).
   */
  readonly topic: string | undefined
  readonly swallowed: boolean
}

/** Decides, for each packet, whether the proxy drops it (`true`) instead of forwarding it. */
export type SwallowRule = (packet: Omit<ProxiedPacket, "swallowed">) => boolean

/** A running proxy, owned by a scope. */
export interface WsMqttProxyHandle {
  readonly port: number
  /** `ws://127.0.0.1:PORT/mqtt`: point the client here. */
  readonly url: string
  /** Every packet so far, in order. */
  readonly packets: () => ReadonlyArray<ProxiedPacket>
  /** Replaces the rule (`undefined`: forward everything). */
  readonly swallow: (rule: SwallowRule | undefined) => Effect.Effect<void>
  /**
   * Waits until `done(packets)` holds, re-checked on every packet; fails with {@link BrokerError} (listing the
   * packets) after `timeoutMs`.
   */
  readonly waitFor: (what: string, done: (packets: ReadonlyArray<ProxiedPacket>) => boolean, timeoutMs?: number) => Effect.Effect<void, BrokerError>
}

/** Splits a byte stream into MQTT packets (fixed header: type byte, remaining-length varint [MQTT-2.2.3]). */
const framer = () => {
  let buffered: Buffer = Buffer.alloc(0)
  return (chunk: Buffer): Array<Buffer> => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    const packets: Array<Buffer> = []
    for (;;) {
      let length = 0
      let multiplier = 1
      let i = 1
      let complete = false
      while (i < buffered.length && i <= 4) {
        const byte = buffered[i] as number
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
        i += 1
        if ((byte & 0x80) === 0) {
          complete = true
          break
        }
      }
      if (!complete || buffered.length < i + length) return packets
      packets.push(buffered.subarray(0, i + length))
      buffered = buffered.subarray(i + length)
    }
  }
}

const toBuffer = (data: Buffer | ArrayBuffer | ReadonlyArray<Buffer>): Buffer =>
  Buffer.isBuffer(data) ? data : data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.concat([...data])

/** Starts WebSocket MQTT proxies. */
export const WsMqttProxy = {
  /**
   * Listens on 127.0.0.1 (ephemeral port, subprotocol `mqtt`) and opens, for each client connection, one to
   * `ws://127.0.0.1:<target>/mqtt`. On scope close: terminates every connection and closes the server.
   */
  start: (options: { readonly target: number }): Effect.Effect<WsMqttProxyHandle, BrokerError, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.callback<{ server: WebSocketServer; upstreams: Set<WebSocket>; handle: WsMqttProxyHandle }, BrokerError>((resume) => {
        const packets: Array<ProxiedPacket> = []
        const waiters = new Set<() => void>()
        let rule: SwallowRule | undefined
        let connections = 0
        const topics = new Map<number, string>()
        const upstreams = new Set<WebSocket>()
        const server = new WebSocketServer({
          host: HOST,
          port: 0,
          handleProtocols: (protocols) => protocols.has("mqtt") ? "mqtt" : false
        })
        server.on("connection", (client) => {
          const connection = ++connections
          const upstream = new WebSocket(`ws://${HOST}:${options.target}/mqtt`, "mqtt")
          upstreams.add(upstream)
          upstream.on("close", () => upstreams.delete(upstream))
          const pending: Array<Buffer> = []
          const pass = (direction: "up" | "down", bytes: Buffer) => {
            const decoded = decodePacket(new Uint8Array(bytes))
            const packet = decoded instanceof Error ? undefined : decoded
            let topic: string | undefined
            if (packet !== undefined && "packetId" in packet && typeof packet.packetId === "number") {
              if (packet._tag === "Publish" && direction === "up") topics.set(packet.packetId, packet.topic)
              topic = topics.get(packet.packetId)
            }
            const seen = { connection, direction, packet, topic }
            const swallowed = rule?.(seen) ?? false
            packets.push({ ...seen, swallowed })
            for (const wake of [...waiters]) wake()
            if (swallowed) return
            if (direction === "down") client.send(bytes)
            else if (upstream.readyState === WebSocket.OPEN) upstream.send(bytes)
            else pending.push(bytes)
          }
          const up = framer()
          const down = framer()
          client.on("message", (data) => {
            for (const bytes of up(toBuffer(data))) pass("up", bytes)
          })
          upstream.on("open", () => {
            for (const bytes of pending.splice(0)) upstream.send(bytes)
          })
          upstream.on("message", (data) => {
            for (const bytes of down(toBuffer(data))) pass("down", bytes)
          })
          client.on("close", () => upstream.close())
          upstream.on("close", () => client.close())
          client.on("error", () => upstream.terminate())
          upstream.on("error", () => client.terminate())
        })
        server.once("error", (cause) => resume(Effect.fail(new BrokerError({ message: "ws proxy failed", cause }))))
        server.on("listening", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          const handle: WsMqttProxyHandle = {
            port,
            url: `ws://${HOST}:${port}/mqtt`,
            packets: () => packets,
            swallow: (next) =>
              Effect.sync(() => {
                rule = next
              }),
            waitFor: (what, done, timeoutMs = 15_000) =>
              Effect.callback<void>((wake) => {
                const check = () => {
                  if (!done(packets)) return
                  waiters.delete(check)
                  wake(Effect.void)
                }
                waiters.add(check)
                check()
                return Effect.sync(() => waiters.delete(check))
              }).pipe(
                Effect.timeoutOrElse({
                  duration: timeoutMs,
                  orElse: () =>
                    Effect.fail(
                      new BrokerError({
                        message: `ws proxy: no ${what} within ${timeoutMs} ms; packets:\n${describePackets(packets)}`
                      })
                    )
                })
              )
          }
          resume(Effect.succeed({ server, upstreams, handle }))
        })
      }),
      ({ server, upstreams }) =>
        Effect.callback<void>((resume) => {
          for (const client of server.clients) client.terminate()
          for (const upstream of upstreams) upstream.terminate()
          server.close(() => resume(Effect.void))
        })
    ).pipe(Effect.map(({ handle }) => handle))
}

/** One line per packet: `#connection direction Type #id topic [swallowed]`. */
export const describePackets = (packets: ReadonlyArray<ProxiedPacket>): string =>
  packets.map((p) =>
    `#${p.connection} ${p.direction} ${p.packet?._tag ?? "?"}` +
    (p.packet !== undefined && "packetId" in p.packet ? ` #${String(p.packet.packetId)}` : "") +
    (p.topic !== undefined ? ` ${p.topic}` : "") +
    (p.packet?._tag === "Publish" && p.packet.dup ? " dup" : "") +
    (p.swallowed ? " [swallowed]" : "")
  ).join("\n")
