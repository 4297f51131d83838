/**
 * Keep-alive over a throttled link (issue 11, item 5: "liveness measured from the wrong moment").
 *
 * A scripted broker on 127.0.0.1 reads and writes at a set rate. A PINGREQ queued behind a large
 * PUBLISH must not make the client declare a slow but live broker dead (and re-send the PUBLISH
 * forever), while a broker that stops reading entirely must still be declared dead in bounded time.
 *
 * Every test waits for events (a publish completing, a status, connection counts), never for a
 * number of things to happen within a wall-clock window; the time bounds are generous.
 */
import { type ConnectionStatus, type MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schedule, Scope, Stream } from "effect"
import type * as Net from "node:net"
import { connackBytes, pingrespBytes, subackBytes } from "./brokers/FakeBroker.ts"
import { HOST, listen } from "./brokers/internal.ts"
import { awaitStatus, client, recordStatus, stopwatch } from "./util.ts"

const MB = 1024 * 1024

const CONNECT = 1
const PUBLISH = 3
const SUBSCRIBE = 8
const PINGREQ = 12

/** A packet from the client: its type, flags, remaining length and the first bytes of its body. */
interface Received {
  readonly type: number
  readonly flags: number
  readonly length: number
  readonly head: Uint8Array
}

/** Splits the client's bytes into packets without keeping their bodies (megabytes of payload). */
const splitter = (onPacket: (packet: Received) => void, keep = 256) => {
  let header: Array<number> = []
  let remaining = -1
  let length = 0
  const head = new Uint8Array(keep)
  let kept = 0
  const emit = () => {
    const first = header[0] ?? 0
    onPacket({ type: first >> 4, flags: first & 0x0f, length, head: head.slice(0, kept) })
    header = []
    remaining = -1
    kept = 0
  }
  return (chunk: Uint8Array): void => {
    let i = 0
    while (i < chunk.length) {
      if (remaining < 0) {
        const b = chunk[i++] ?? 0
        header.push(b)
        if (header.length >= 2 && (b & 0x80) === 0) {
          length = 0
          for (let k = 1, multiplier = 1; k < header.length; k++, multiplier *= 128) length += ((header[k] ?? 0) & 0x7f) * multiplier
          remaining = length
          if (remaining === 0) emit()
        }
      } else {
        const n = Math.min(remaining, chunk.length - i)
        const k = Math.min(n, keep - kept)
        if (k > 0) {
          head.set(chunk.subarray(i, i + k), kept)
          kept += k
        }
        i += n
        remaining -= n
        if (remaining === 0) emit()
      }
    }
  }
}

/** The packet id of a QoS 1/2 PUBLISH (after the topic) or of a SUBSCRIBE (first). */
const packetId = (packet: Received): number => {
  const at = packet.type === PUBLISH ? 2 + (((packet.head[0] ?? 0) << 8) | (packet.head[1] ?? 0)) : 0
  return ((packet.head[at] ?? 0) << 8) | (packet.head[at + 1] ?? 0)
}

const pubackBytes = (id: number) => new Uint8Array([0x40, 0x02, (id >> 8) & 0xff, id & 0xff])

/** PUBLISH QoS 0 bytes for a topic and a payload of `size` zero bytes. */
const publishBytes = (topic: string, size: number): Uint8Array => {
  const name = new TextEncoder().encode(topic)
  const remaining = 2 + name.length + size
  const lengthBytes: Array<number> = []
  let x = remaining
  do {
    lengthBytes.push((x % 128) | (x >= 128 ? 0x80 : 0))
    x = Math.floor(x / 128)
  } while (x > 0)
  const out = new Uint8Array(1 + lengthBytes.length + remaining)
  out.set([0x30, ...lengthBytes, name.length >> 8, name.length & 0xff], 0)
  out.set(name, 1 + lengthBytes.length + 2)
  return out
}

/** One client connection to the {@link ScriptedBroker}. */
interface Link {
  /** 1 for the first connection, 2 for the next… */
  readonly index: number
  readonly socket: Net.Socket
  /** Every packet received so far. */
  readonly packets: Array<Received>
  readonly write: (bytes: Uint8Array) => void
  /** Reads at most `bytesPerSecond` from now on (TCP backpressure slows the client down); 0 stops reading. */
  readonly throttle: (bytesPerSecond: number) => void
  /** Calls `f` every `millis` until the connection closes. */
  readonly every: (millis: number, f: () => void) => void
}

/** A broker scripted per connection: `onPacket` answers each packet the client sends. */
const ScriptedBroker = {
  start: (script: {
    readonly onConnect?: (link: Link) => void
    readonly onPacket: (link: Link, packet: Received) => void
  }) =>
    Effect.gen(function*() {
      const links: Array<Link> = []
      const { port } = yield* listen("scripted broker", (socket) => {
        const timers: Array<ReturnType<typeof setInterval>> = []
        socket.on("close", () => timers.forEach(clearInterval))
        socket.on("error", () => undefined)
        let budget = Infinity
        let rate = Infinity
        const link: Link = {
          index: links.length + 1,
          socket,
          packets: [],
          write: (bytes) => {
            if (!socket.destroyed) socket.write(bytes)
          },
          throttle: (bytesPerSecond) => {
            rate = bytesPerSecond
            budget = 0
            if (rate === 0) socket.pause()
          },
          every: (millis, f) => {
            timers.push(setInterval(f, millis))
          }
        }
        links.push(link)
        const split = splitter((packet) => {
          link.packets.push(packet)
          script.onPacket(link, packet)
        })
        socket.on("data", (chunk: Buffer) => {
          split(chunk)
          budget -= chunk.length
          if (budget < 0) socket.pause()
        })
        // token bucket: refilled every 20 ms, reading resumes once it is positive again
        link.every(20, () => {
          if (rate === Infinity || rate === 0) return
          budget = Math.min(budget + rate / 50, rate / 10)
          if (budget > 0 && socket.isPaused()) socket.resume()
        })
        script.onConnect?.(link)
      })
      return {
        url: `mqtt://${HOST}:${port}`,
        links,
        /** PUBLISH packets received, over all connections. */
        publishes: () => links.flatMap((l) => l.packets.filter((p) => p.type === PUBLISH))
      }
    })
}

/** Answers CONNECT, PINGREQ, QoS 1 PUBLISH and SUBSCRIBE (all as soon as they are read). */
const answer = (link: Link, packet: Received): void => {
  if (packet.type === CONNECT) link.write(connackBytes(0))
  else if (packet.type === PINGREQ) link.write(pingrespBytes)
  else if (packet.type === PUBLISH && ((packet.flags >> 1) & 3) === 1) link.write(pubackBytes(packetId(packet)))
  else if (packet.type === SUBSCRIBE) link.write(subackBytes(packetId(packet), [0]))
}

const options = { reconnect: Schedule.spaced("200 millis"), connectTimeout: "3 seconds" } as const

/** Runs `body` with a client that is closed before the broker's scope closes. */
const withClient = <A, E>(
  url: string,
  clientOptions: Parameters<typeof client>[1],
  body: (mqtt: MqttClient["Service"], seen: ReadonlyArray<ConnectionStatus>) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const mqtt = yield* client(url, clientOptions).pipe(Scope.provide(scope))
    const seen = yield* recordStatus(mqtt).pipe(Scope.provide(scope))
    return yield* body(mqtt, seen).pipe(Scope.provide(scope), Effect.onExit(() => Scope.close(scope, Exit.void)))
  })

const tags = (seen: ReadonlyArray<ConnectionStatus>) => seen.map((s) => s._tag)

describe("keep-alive over a throttled link", () => {
  it.live("upload: a PUBLISH that takes several keep-alives to be read completes on one connection", () =>
    Effect.gen(function*() {
      // keepAlive 1 s (ping timeout 1 s); 12 MB read at 4 MB/s: about 3 s, the PINGREQ waits behind it
      const broker = yield* ScriptedBroker.start({
        onConnect: (link) => link.throttle(4 * MB),
        onPacket: answer
      })
      yield* withClient(broker.url, { ...options, keepAlive: 1 }, (mqtt, seen) =>
        Effect.gen(function*() {
          const elapsed = stopwatch()
          yield* mqtt.publish("big/upload", new Uint8Array(12 * MB), { qos: 1 }).pipe(Effect.timeout("25 seconds"))
          assert.isAtLeast(elapsed(), 2_000, "the link was not slow: the test proves nothing")
          assert.strictEqual(broker.links.length, 1, `reconnected: ${tags(seen).join(", ")}`)
          assert.strictEqual(broker.publishes().length, 1)
          assert.deepStrictEqual(tags(seen), ["Connected"])
          // the PINGREQ went out (behind the PUBLISH): the keep-alive did run
          assert.isAtLeast(broker.links[0]?.packets.filter((p) => p.type === PINGREQ).length ?? 0, 1)
        }))
    }), 30_000)

  it.live("upload: the PINGREQ written right after the socket took a PUBLISH it still holds (the reported case)", () =>
    Effect.gen(function*() {
      // keepAlive 3 s (ping timeout 1.5 s); 7 MB read at 1.5 MB/s: the socket takes most of it at once, the
      // PINGREQ is written at 3 s and reaches the broker only after the rest, at about 4.9 s
      const broker = yield* ScriptedBroker.start({
        onConnect: (link) => link.throttle(1.5 * MB),
        onPacket: answer
      })
      yield* withClient(broker.url, { ...options, keepAlive: 3 }, (mqtt, seen) =>
        Effect.gen(function*() {
          yield* mqtt.publish("big/upload", new Uint8Array(7 * MB), { qos: 1 }).pipe(Effect.timeout("25 seconds"))
          assert.strictEqual(broker.links.length, 1, `reconnected: ${tags(seen).join(", ")}`)
          assert.strictEqual(broker.publishes().length, 1)
          assert.deepStrictEqual(tags(seen), ["Connected"])
        }))
    }), 30_000)

  it.live("download: a PUBLISH the broker sends slowly, not answering PINGREQ meanwhile, arrives on one connection", () =>
    Effect.gen(function*() {
      const size = 5 * MB
      let owed = 0 // PINGRESPs held back until the PUBLISH is written
      let pingsDuringDownload = 0
      let sending = false
      const broker = yield* ScriptedBroker.start({
        onPacket: (link, packet) => {
          if (packet.type === PINGREQ && sending) {
            owed += 1
            pingsDuringDownload += 1
            return
          }
          answer(link, packet)
          if (packet.type !== SUBSCRIBE) return
          // 32 KiB every 20 ms: 1.6 MB/s, about 3 s
          const bytes = publishBytes("big/download", size)
          let offset = 0
          sending = true
          link.every(20, () => {
            if (!sending) return
            link.write(bytes.subarray(offset, offset + 32 * 1024))
            offset += 32 * 1024
            if (offset < bytes.length) return
            sending = false
            for (; owed > 0; owed--) link.write(pingrespBytes)
          })
        }
      })
      yield* withClient(broker.url, { ...options, keepAlive: 1 }, (mqtt, seen) =>
        Effect.gen(function*() {
          const message = yield* mqtt.subscribe("big/download").pipe(Stream.runHead, Effect.timeout("25 seconds"))
          assert.strictEqual(message._tag, "Some")
          if (message._tag === "Some") assert.strictEqual(message.value.payload.length, size)
          assert.strictEqual(broker.links.length, 1, `reconnected: ${tags(seen).join(", ")}`)
          assert.deepStrictEqual(tags(seen), ["Connected"])
          assert.isAtLeast(pingsDuringDownload, 1, "no PINGREQ during the download: the test proves nothing")
        }))
    }), 30_000)

  it.live("a broker that stops reading and sending is declared dead within keepAlive + pingTimeout; the PUBLISH completes on the next connection", () =>
    Effect.gen(function*() {
      const broker = yield* ScriptedBroker.start({
        onPacket: (link, packet) => {
          answer(link, packet)
          if (link.index === 1 && packet.type === CONNECT) link.throttle(0) // frozen: the socket is never read again
        }
      })
      yield* withClient(broker.url, { ...options, keepAlive: 1 }, (mqtt, seen) =>
        Effect.gen(function*() {
          const elapsed = stopwatch()
          const publish = yield* mqtt.publish("big/frozen", new Uint8Array(16 * MB), { qos: 1 }).pipe(
            Effect.forkChild({ startImmediately: true })
          )
          const lost = yield* awaitStatus(mqtt, (s) => s._tag === "Disconnected", "10 seconds")
          const detectedAfter = elapsed()
          // keepAlive + pingTimeout = 2 s; generous for a busy machine, but not "never"
          assert.isAtMost(detectedAfter, 6_000, `detected after ${detectedAfter} ms`)
          assert.isAtLeast(detectedAfter, 1_500, `detected after ${detectedAfter} ms: too early`)
          const cause = lost._tag === "Disconnected" ? lost.cause : undefined
          assert.strictEqual(cause?._tag, "ConnectionLost")
          assert.match(cause?.message ?? "", /no byte left the socket or arrived within 1000 ms while the PINGREQ waited behind \d+ unsent bytes/)
          yield* Fiber.join(publish).pipe(Effect.timeout("20 seconds"))
          assert.strictEqual(broker.links.length, 2, `connections: ${tags(seen).join(", ")}`)
        }))
    }), 30_000)

  it.live("a broker that freezes once a PUBLISH fits in the socket: the unanswered PINGREQ, within keepAlive + pingTimeout", () =>
    Effect.gen(function*() {
      const broker = yield* ScriptedBroker.start({
        onPacket: (link, packet) => {
          answer(link, packet)
          if (link.index === 1 && packet.type === CONNECT) link.throttle(0)
        }
      })
      yield* withClient(broker.url, { ...options, keepAlive: 1 }, (mqtt) =>
        Effect.gen(function*() {
          const elapsed = stopwatch()
          const publish = yield* mqtt.publish("small/frozen", new Uint8Array(64 * 1024), { qos: 1 }).pipe(
            Effect.forkChild({ startImmediately: true })
          )
          const lost = yield* awaitStatus(mqtt, (s) => s._tag === "Disconnected", "10 seconds")
          const detectedAfter = elapsed()
          assert.isAtMost(detectedAfter, 6_000, `detected after ${detectedAfter} ms`)
          const cause = lost._tag === "Disconnected" ? lost.cause : undefined
          assert.match(cause?.message ?? "", /no answer to PINGREQ within \d+ ms of writing it to the socket/)
          yield* Fiber.join(publish).pipe(Effect.timeout("10 seconds"))
        }))
    }), 30_000)

  it.live("a slow subscriber stops the reader for several keep-alives: the connection stays up", () =>
    Effect.gen(function*() {
      const count = 2_000
      const broker = yield* ScriptedBroker.start({
        onPacket: (link, packet) => {
          answer(link, packet)
          if (packet.type !== SUBSCRIBE) return
          const message = publishBytes("slow/sub", 1024)
          for (let i = 0; i < count; i++) link.write(message)
        }
      })
      yield* withClient(broker.url, { ...options, keepAlive: 1 }, (mqtt, seen) =>
        Effect.gen(function*() {
          const subscription = yield* mqtt.subscription("slow/sub", { bufferSize: 10 })
          // nobody reads the stream for 4 s (keepAlive + pingTimeout is 2 s): the reader waits, the socket is not read
          yield* Effect.sleep("4 seconds")
          const received = yield* subscription.messages.pipe(Stream.take(count), Stream.runCount, Effect.timeout("15 seconds"))
          assert.strictEqual(received, count)
          assert.strictEqual(broker.links.length, 1, `reconnected: ${tags(seen).join(", ")}`)
          assert.deepStrictEqual(tags(seen), ["Connected"])
          // the keep-alive still sent PINGREQ on send silence [MQTT-3.1.2-23] while the reader waited
          assert.isAtLeast(broker.links[0]?.packets.filter((p) => p.type === PINGREQ).length ?? 0, 2)
        }))
    }), 30_000)
})
