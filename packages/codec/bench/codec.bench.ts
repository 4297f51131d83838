/**
 * Codec benchmark: @aimeqtt/codec against `mqtt-packet`, in one Node process, for MQTT 3.1.1 and
 * (the cases named "v5 ...") MQTT 5.0.
 *
 * Run from packages/codec with `node bench/codec.bench.ts` (or `pnpm --filter @aimeqtt/codec bench`).
 * How each case is measured, and the environment variables, are in `measure.ts`. Prints a table and
 * the geometric means of ours/peer, and writes `bench/results.json`.
 *
 * @since 0.1.0
 */
import mqttPacket from "mqtt-packet"
import type { IConnectPacket, IPublishPacket, ISubscribePacket, Packet as PeerPacket } from "mqtt-packet"
import { decodePacket, DecodeError, Decoder, encode } from "../src/index.ts"
import type { Connect, Packet, ProtocolVersion, Publish, Subscribe } from "../src/index.ts"
import { run } from "./measure.ts"
import type { Case } from "./measure.ts"
import * as V5 from "./packets5.ts"

const STREAM_BYTES = 10 * 1024 * 1024

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

const sameBytes = (name: string, ours: Packet<ProtocolVersion>, peer: PeerPacket, protocolVersion: ProtocolVersion): Buffer => {
  const options = { protocolVersion }
  const a = encode<ProtocolVersion>(ours, options)
  const b = mqttPacket.generate(peer, options)
  check(Buffer.compare(Buffer.from(a), b) === 0, `${name}: encodings differ\nours ${Buffer.from(a).toString("hex")}\npeer ${b.toString("hex")}`)
  const decoded = decodePacket(b, options)
  check(!(decoded instanceof DecodeError) && decoded._tag === ours._tag, `${name}: ours does not decode it`)
  return b
}

/** A one-shot decode with mqtt-packet: its parser (one per version), reused, emits one packet per buffer. */
const peerDecoder = (protocolVersion: ProtocolVersion) => {
  const parser = mqttPacket.parser({ protocolVersion })
  let last: PeerPacket | undefined
  parser.on("packet", (p: PeerPacket) => {
    last = p
  })
  parser.on("error", (e: unknown) => check(false, `mqtt-packet parser error: ${String(e)}`))
  return (bytes: Buffer): PeerPacket | undefined => {
    last = undefined
    parser.parse(bytes)
    return last
  }
}
const peerDecode = { 4: peerDecoder(4), 5: peerDecoder(5) }

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

const encodeCase = (
  name: string,
  ours: Packet<ProtocolVersion>,
  peer: PeerPacket,
  protocolVersion: ProtocolVersion = 4,
  rounds = 1
): Case => {
  sameBytes(name, ours, peer, protocolVersion)
  const options = { protocolVersion }
  return {
    name: `${protocolVersion === 5 ? "v5 " : ""}encode ${name}`,
    rounds,
    ours: () => {
      const out = encode<ProtocolVersion>(ours, options)
      sink = (sink + out.length + (out[out.length - 1] as number)) | 0
    },
    peer: () => {
      const out = mqttPacket.generate(peer, options)
      sink = (sink + out.length + (out[out.length - 1] as number)) | 0
    }
  }
}

const decodeCase = (name: string, ours: Packet<ProtocolVersion>, peer: PeerPacket, protocolVersion: ProtocolVersion = 4): Case => {
  const bytes = sameBytes(name, ours, peer, protocolVersion)
  const options = { protocolVersion }
  const peerDecodeOf = peerDecode[protocolVersion]
  return {
    name: `${protocolVersion === 5 ? "v5 " : ""}decode ${name}`,
    ours: () => {
      const packet = decodePacket(bytes, options)
      sink = (sink + (packet instanceof DecodeError ? -1 : packet._tag.length)) | 0
    },
    peer: () => {
      const packet = peerDecodeOf(bytes)
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
  // Allocation and copying, the same on both sides: three times the rounds (see measure.ts).
  encodeCase("PUBLISH 64 KiB", publish64k, peerPublish(publish64k), 4, 3),
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
  },
  encodeCase("PUBLISH with user properties and a topic alias", V5.publish, V5.peerPublish, 5),
  decodeCase("PUBLISH with user properties and a topic alias", V5.publish, V5.peerPublish, 5),
  encodeCase("CONNECT with properties", V5.connect, V5.peerConnect, 5),
  decodeCase("CONNECT with properties", V5.connect, V5.peerConnect, 5),
  encodeCase("SUBACK with reason codes", V5.suback, V5.peerSuback, 5),
  decodeCase("SUBACK with reason codes", V5.suback, V5.peerSuback, 5)
]

run(cases, new URL("./results.json", import.meta.url), () => sink)
