/**
 * Codec benchmark: @aimeqtt/codec against `mqtt-packet`, in one Node process.
 *
 * Run from packages/codec with `node bench/codec.bench.ts` (or `pnpm --filter @aimeqtt/codec bench`).
 * Each case runs both sides on the same input: a warm-up, then `BENCH_ROUNDS` rounds of `BENCH_MS`
 * milliseconds per side, alternating sides; the result is the median ops/s. Every result is folded
 * into `sink`, printed at the end, so no work can be optimized away.
 *
 * Prints a table and the geometric mean of ours/peer, and writes `bench/results.json`.
 * Environment: `BENCH_MS` (default 1000), `BENCH_ROUNDS` (5), `BENCH_WARMUP_MS` (300), and
 * `BENCH_FILTER` (run only the cases whose name contains it; results.json is then left alone), and
 * `BENCH_CLOCK=cpu` to time with this process's CPU time instead of wall time, which is steadier on a
 * machine busy with other work (it counts every thread of the process, GC helpers included).
 *
 * @since 0.1.0
 */
import { writeFileSync } from "node:fs"
import mqttPacket from "mqtt-packet"
import type { IConnectPacket, IPublishPacket, ISubscribePacket, Packet as PeerPacket } from "mqtt-packet"
import { decodePacket, DecodeError, Decoder, encode } from "../src/index.ts"
import type { Connect, Packet, Publish, Subscribe } from "../src/index.ts"

const ROUND_MS = Number(process.env["BENCH_MS"] ?? 1000)
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 5)
const WARMUP_MS = Number(process.env["BENCH_WARMUP_MS"] ?? 300)
/** Only run the cases whose name contains this (e.g. for profiling one case with `node --cpu-prof`). */
const FILTER = process.env["BENCH_FILTER"] ?? ""
const CPU_CLOCK = process.env["BENCH_CLOCK"] === "cpu"
const STREAM_BYTES = 10 * 1024 * 1024

/** Milliseconds, of wall time or of process CPU time (`BENCH_CLOCK=cpu`). */
const now = (): number => {
  if (!CPU_CLOCK) return performance.now()
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** Every result goes here, and it is printed at the end, so nothing is dead code. */
let sink = 0

/** A deterministic PRNG (mulberry32), so both sides see the same inputs on every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const random = prng(42)

const bytesOf = (size: number): Buffer => {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (random() * 256) | 0
  return out
}

// ---------------------------------------------------------------------------------------------------
// Packets, as ours and as mqtt-packet objects

const ourPublish = (payload: Buffer, topic = "sensors/building-7/floor-3/temperature", packetId = 4242): Publish => ({
  _tag: "Publish",
  topic,
  payload,
  qos: 1,
  retain: false,
  dup: false,
  packetId
})
const peerPublish = (p: Publish): IPublishPacket => ({
  cmd: "publish",
  topic: p.topic,
  payload: Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.byteLength),
  qos: p.qos,
  retain: p.retain,
  dup: p.dup,
  ...(p.packetId === undefined ? {} : { messageId: p.packetId })
})

const ourConnect: Connect = {
  _tag: "Connect",
  protocolLevel: 4,
  clientId: "aimeqtt-bench-client-0001",
  cleanSession: true,
  keepAlive: 60,
  username: "bench-user",
  password: Buffer.from("correct horse battery staple"),
  will: { topic: "clients/aimeqtt-bench-client-0001/status", payload: Buffer.from("offline"), qos: 1, retain: true }
}
const peerConnect: IConnectPacket = {
  cmd: "connect",
  protocolId: "MQTT",
  protocolVersion: 4,
  clientId: ourConnect.clientId,
  clean: true,
  keepalive: 60,
  username: "bench-user",
  password: Buffer.from("correct horse battery staple"),
  will: { topic: "clients/aimeqtt-bench-client-0001/status", payload: Buffer.from("offline"), qos: 1, retain: true }
}

const filters = Array.from({ length: 10 }, (_, i) => ({ filter: `home/room-${i}/+/sensor/#`, qos: (i % 3) as 0 | 1 | 2 }))
const ourSubscribe: Subscribe = { _tag: "Subscribe", packetId: 17, subscriptions: filters }
const peerSubscribe: ISubscribePacket = {
  cmd: "subscribe",
  messageId: 17,
  subscriptions: filters.map(({ filter, qos }) => ({ topic: filter, qos }))
}

// ---------------------------------------------------------------------------------------------------
// Correctness checks: both encoders agree byte for byte, so both decoders get the same input

const check = (condition: boolean, message: string): void => {
  if (!condition) {
    console.error(`bench setup failed: ${message}`)
    process.exit(1)
  }
}

const sameBytes = (name: string, ours: Packet, peer: PeerPacket): Buffer => {
  const a = encode(ours)
  const b = mqttPacket.generate(peer)
  check(Buffer.compare(Buffer.from(a), b) === 0, `${name}: encodings differ\nours ${Buffer.from(a).toString("hex")}\npeer ${b.toString("hex")}`)
  const decoded = decodePacket(b)
  check(!(decoded instanceof DecodeError) && decoded._tag === ours._tag, `${name}: ours does not decode it`)
  return b
}

/** A one-shot decode with mqtt-packet: its parser, reused, emits one packet per buffer. */
const peerParser = mqttPacket.parser({ protocolVersion: 4 })
let peerLast: PeerPacket | undefined
peerParser.on("packet", (p: PeerPacket) => {
  peerLast = p
})
peerParser.on("error", (e: unknown) => check(false, `mqtt-packet parser error: ${String(e)}`))
const peerDecode = (bytes: Buffer): PeerPacket | undefined => {
  peerLast = undefined
  peerParser.parse(bytes)
  return peerLast
}

// ---------------------------------------------------------------------------------------------------
// The mixed stream: mostly PUBLISH of various sizes, plus every other packet type a client or broker
// sees, cut into random chunk sizes (the same chunks for both sides).

const mixedStream = (): { chunks: Array<Buffer>; packets: number } => {
  const kinds: Array<() => PeerPacket> = [
    () => peerPublish(ourPublish(bytesOf((random() * 64) | 0), "a/b", 1)),
    () => peerPublish(ourPublish(bytesOf((random() * 1024) | 0), "sensors/x/temperature", 2)),
    () => peerPublish(ourPublish(bytesOf((random() * 16384) | 0), "files/chunk", 3)),
    () => ({ cmd: "publish", topic: "qos0/telemetry", payload: bytesOf(32), qos: 0, retain: false, dup: false }),
    () => ({ cmd: "puback", messageId: 1 + ((random() * 65535) | 0) }),
    () => ({ cmd: "pubrec", messageId: 7 }),
    () => ({ cmd: "pubrel", messageId: 7 }),
    () => ({ cmd: "pubcomp", messageId: 7 }),
    () => ({ cmd: "pingreq" }),
    () => ({ cmd: "pingresp" }),
    () => ({ cmd: "suback", messageId: 17, granted: [0, 1, 2, 128] }),
    () => ({ cmd: "unsuback", messageId: 18, granted: [] }),
    () => ({ cmd: "connack", sessionPresent: false, returnCode: 0 }),
    () => peerSubscribe,
    () => ({ cmd: "unsubscribe", messageId: 18, unsubscriptions: ["a/b", "c/+/d"] }),
    () => peerConnect
  ]
  const weights = [30, 20, 2, 15, 12, 2, 2, 2, 3, 3, 2, 1, 1, 2, 1, 1]
  const total = weights.reduce((a, b) => a + b, 0)
  const pick = () => {
    let r = random() * total
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number
      if (r < 0) return kinds[i] as () => PeerPacket
    }
    return kinds[0] as () => PeerPacket
  }
  const parts: Array<Buffer> = []
  let size = 0
  while (size < STREAM_BYTES) {
    const bytes = mqttPacket.generate(pick()())
    parts.push(bytes)
    size += bytes.length
  }
  const all = Buffer.concat(parts)
  const chunks: Array<Buffer> = []
  for (let pos = 0; pos < all.length;) {
    // Chunk sizes from 1 byte to 64 KiB, log-uniform, like TCP reads of varied size.
    const length = Math.max(1, Math.floor(Math.exp(random() * Math.log(65536))))
    chunks.push(all.subarray(pos, pos + length))
    pos += length
  }
  return { chunks, packets: parts.length }
}

const stream = mixedStream()

const ourStream = (): number => {
  const decoder = new Decoder()
  let count = 0
  for (const chunk of stream.chunks) {
    const packets = decoder.push(chunk)
    if (packets instanceof DecodeError) return -1
    count += packets.length
  }
  return count
}

const peerStream = (): number => {
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  let count = 0
  parser.on("packet", () => {
    count++
  })
  for (const chunk of stream.chunks) parser.parse(chunk)
  return count
}

check(ourStream() === stream.packets, `stream: ours decoded ${ourStream()} of ${stream.packets} packets`)
check(peerStream() === stream.packets, `stream: mqtt-packet decoded ${peerStream()} of ${stream.packets} packets`)

// ---------------------------------------------------------------------------------------------------
// Cases

interface Case {
  readonly name: string
  readonly ours: () => void
  readonly peer: () => void
}

const encodeCase = (name: string, ours: Packet, peer: PeerPacket): Case => {
  sameBytes(name, ours, peer)
  return {
    name: `encode ${name}`,
    ours: () => {
      const out = encode(ours)
      sink = (sink + out.length + (out[out.length - 1] as number)) | 0
    },
    peer: () => {
      const out = mqttPacket.generate(peer)
      sink = (sink + out.length + (out[out.length - 1] as number)) | 0
    }
  }
}

const decodeCase = (name: string, ours: Packet, peer: PeerPacket): Case => {
  const bytes = sameBytes(name, ours, peer)
  return {
    name: `decode ${name}`,
    ours: () => {
      const packet = decodePacket(bytes)
      sink = (sink + (packet instanceof DecodeError ? -1 : packet._tag.length)) | 0
    },
    peer: () => {
      const packet = peerDecode(bytes)
      sink = (sink + (packet === undefined ? -1 : packet.cmd.length)) | 0
    }
  }
}

const publish16 = ourPublish(bytesOf(16))
const publish1k = ourPublish(bytesOf(1024))
const publish64k = ourPublish(bytesOf(65536))

const cases: Array<Case> = [
  encodeCase("PUBLISH 16 B", publish16, peerPublish(publish16)),
  encodeCase("PUBLISH 1 KiB", publish1k, peerPublish(publish1k)),
  encodeCase("PUBLISH 64 KiB", publish64k, peerPublish(publish64k)),
  encodeCase("CONNECT will+auth", ourConnect, peerConnect),
  encodeCase("SUBSCRIBE 10 filters", ourSubscribe, peerSubscribe),
  decodeCase("PUBLISH 16 B", publish16, peerPublish(publish16)),
  decodeCase("PUBLISH 1 KiB", publish1k, peerPublish(publish1k)),
  decodeCase("PUBLISH 64 KiB", publish64k, peerPublish(publish64k)),
  decodeCase("CONNECT will+auth", ourConnect, peerConnect),
  decodeCase("SUBSCRIBE 10 filters", ourSubscribe, peerSubscribe),
  {
    name: `stream 10 MB mixed (${stream.packets} packets)`,
    ours: () => {
      sink = (sink + ourStream()) | 0
    },
    peer: () => {
      sink = (sink + peerStream()) | 0
    }
  }
]

// ---------------------------------------------------------------------------------------------------
// Measurement

/** Runs `fn` for about `ms` milliseconds, in batches so the clock is read rarely; returns ops/s. */
const measure = (fn: () => void, ms: number): number => {
  let batch = 1
  let ops = 0
  const start = now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) fn()
    ops += batch
    elapsed = now() - start
    // Grow the batch until one batch takes about 1/50 of the round.
    if (elapsed < ms / 50) batch *= 2
  }
  return (ops * 1000) / elapsed
}

const median = (xs: Array<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

interface Result {
  readonly case: string
  readonly ours: number
  readonly peer: number
  readonly ratio: number
}

const results: Array<Result> = []
const format = (n: number) => n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2)

console.log(
  `node ${process.version}, ${ROUNDS} rounds x ${ROUND_MS} ms (${CPU_CLOCK ? "CPU" : "wall"} time) per side, median ops/s\n`
)
console.log(`${"case".padEnd(44)} ${"ours ops/s".padStart(14)} ${"peer ops/s".padStart(14)} ${"ours/peer".padStart(10)}`)
for (const c of cases.filter((c) => c.name.includes(FILTER))) {
  measure(c.ours, WARMUP_MS)
  measure(c.peer, WARMUP_MS)
  const ours: Array<number> = []
  const peer: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which side goes first, so drift (GC, thermal) does not favour one.
    if (round % 2 === 0) {
      ours.push(measure(c.ours, ROUND_MS))
      peer.push(measure(c.peer, ROUND_MS))
    } else {
      peer.push(measure(c.peer, ROUND_MS))
      ours.push(measure(c.ours, ROUND_MS))
    }
  }
  const result = { case: c.name, ours: median(ours), peer: median(peer), ratio: median(ours) / median(peer) }
  results.push(result)
  console.log(
    `${c.name.padEnd(44)} ${format(result.ours).padStart(14)} ${format(result.peer).padStart(14)} ${
      result.ratio.toFixed(2).padStart(10)
    }`
  )
}

const geomean = Math.exp(results.reduce((acc, r) => acc + Math.log(r.ratio), 0) / results.length)
console.log(`\ngeometric mean of ours/peer: ${geomean.toFixed(2)}`)
if (FILTER === "") {
  writeFileSync(new URL("./results.json", import.meta.url), JSON.stringify(results, null, 2) + "\n")
  console.log(`wrote bench/results.json (sink ${sink})`)
} else console.log(`BENCH_FILTER set: bench/results.json not written (sink ${sink})`)
