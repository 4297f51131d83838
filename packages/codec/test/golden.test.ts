/**
 * Golden byte vectors written by hand from the MQTT 3.1.1 spec, checked in both directions:
 * `encode(packet)` gives the bytes and `decodePacket(bytes)` gives the packet.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { decode, decodePacket, encode, encodedLength } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import { hex } from "./arbitraries.ts"
import { text } from "./vectors.ts"

const vectors: ReadonlyArray<readonly [string, Packet, string]> = [
  [
    "CONNECT with will and credentials",
    {
      _tag: "Connect",
      protocolLevel: 4,
      clientId: "cid",
      cleanSession: true,
      keepAlive: 60,
      username: "u",
      password: text("pw"),
      will: { topic: "w/t", payload: text("bye"), qos: 1, retain: true }
    },
    // flags 0xee: user name, password, will retain, will QoS 1, will, clean session [MQTT-3.1.2.3]
    "10 20 0004 4d515454 04 ee 003c 0003 636964 0003 772f74 0003 627965 0001 75 0002 7077"
  ],
  [
    "minimal CONNECT (empty client id)",
    { _tag: "Connect", protocolLevel: 4, clientId: "", cleanSession: true, keepAlive: 0 },
    "10 0c 0004 4d515454 04 02 0000 0000"
  ],
  [
    "CONNECT with a will at QoS 2, no credentials, persistent session",
    {
      _tag: "Connect",
      protocolLevel: 4,
      clientId: "c",
      cleanSession: false,
      keepAlive: 65535,
      will: { topic: "t", payload: new Uint8Array(0), qos: 2, retain: false }
    },
    "10 12 0004 4d515454 04 14 ffff 0001 63 0001 74 0000"
  ],
  [
    "MQTT 3.1 CONNECT (\"MQIsdp\", level 3)",
    { _tag: "Connect", protocolLevel: 3, clientId: "ab", cleanSession: true, keepAlive: 60 },
    "10 10 0006 4d5149736470 03 02 003c 0002 6162"
  ],
  ["CONNACK accepted, session present", { _tag: "Connack", sessionPresent: true, returnCode: 0 }, "20 02 01 00"],
  ["CONNACK not authorized", { _tag: "Connack", sessionPresent: false, returnCode: 5 }, "20 02 00 05"],
  [
    "PUBLISH QoS 0",
    { _tag: "Publish", topic: "a/b", payload: text("hi"), qos: 0, retain: false, dup: false },
    "30 07 0003 612f62 6869"
  ],
  [
    "PUBLISH QoS 0 retained, empty payload",
    { _tag: "Publish", topic: "a/b", payload: new Uint8Array(0), qos: 0, retain: true, dup: false },
    "31 05 0003 612f62"
  ],
  [
    "PUBLISH QoS 1 DUP",
    { _tag: "Publish", topic: "a/b", payload: text("hi"), qos: 1, retain: false, dup: true, packetId: 10 },
    "3a 09 0003 612f62 000a 6869"
  ],
  [
    "PUBLISH QoS 2 retained",
    { _tag: "Publish", topic: "a/b", payload: text("hi"), qos: 2, retain: true, dup: false, packetId: 0x1234 },
    "35 09 0003 612f62 1234 6869"
  ],
  [
    "PUBLISH with a non-ASCII topic",
    { _tag: "Publish", topic: "é/😀", payload: new Uint8Array(0), qos: 0, retain: false, dup: false },
    "30 09 0007 c3a9 2f f09f9880"
  ],
  ["PUBACK", { _tag: "Puback", packetId: 1 }, "40 02 0001"],
  ["PUBREC", { _tag: "Pubrec", packetId: 65535 }, "50 02 ffff"],
  ["PUBREL (flags 0b0010)", { _tag: "Pubrel", packetId: 7 }, "62 02 0007"],
  ["PUBCOMP", { _tag: "Pubcomp", packetId: 7 }, "70 02 0007"],
  [
    "SUBSCRIBE with several filters",
    {
      _tag: "Subscribe",
      packetId: 1,
      subscriptions: [{ filter: "a/+", qos: 0 }, { filter: "#", qos: 2 }, { filter: "x/y/#", qos: 1 }]
    },
    "82 14 0001 0003 612f2b 00 0001 23 02 0005 782f792f23 01"
  ],
  ["SUBACK with a failure (0x80)", { _tag: "Suback", packetId: 1, returnCodes: [0, 0x80, 2, 1] }, "90 06 0001 00 80 02 01"],
  ["UNSUBSCRIBE", { _tag: "Unsubscribe", packetId: 2, filters: ["a/+", "#"] }, "a2 0a 0002 0003 612f2b 0001 23"],
  ["UNSUBACK", { _tag: "Unsuback", packetId: 2 }, "b0 02 0002"],
  ["PINGREQ", { _tag: "Pingreq" }, "c0 00"],
  ["PINGRESP", { _tag: "Pingresp" }, "d0 00"],
  ["DISCONNECT", { _tag: "Disconnect" }, "e0 00"]
]

describe("golden vectors", () => {
  for (const [name, packet, bytes] of vectors) {
    it(`encode ${name}`, () => {
      expect(encode(packet)).toEqual(hex(bytes))
      expect(encodedLength(packet)).toBe(hex(bytes).length)
    })
    it(`decode ${name}`, () => {
      expect(decodePacket(hex(bytes))).toEqual(packet)
    })
  }

  it.effect("decode (Effect) succeeds and fails", () =>
    Effect.gen(function*() {
      expect(yield* decode(hex("c0 00"))).toEqual({ _tag: "Pingreq" })
      const error = yield* Effect.flip(decode(hex("c0 01 00")))
      expect(error._tag).toBe("DecodeError")
      expect(error.message).toBe("PINGREQ with remaining length 1, expected 0 [MQTT-2.2.3]")
    }))

  it("gives each encoded packet its own bytes, even when small outputs share a slab", () => {
    const outputs = Array.from({ length: 2000 }, (_, i) => encode({ _tag: "Puback", packetId: i + 1 }))
    outputs.forEach((bytes, i) => expect(decodePacket(bytes)).toEqual({ _tag: "Puback", packetId: i + 1 }))
    const big = encode({ _tag: "Publish", topic: "t", payload: new Uint8Array(5000), qos: 0, retain: false, dup: false })
    expect(big.byteOffset).toBe(0)
    expect(big.buffer.byteLength).toBe(big.length)
  })

  it("keeps a leading BOM in strings [MQTT-1.5.3-3]", () => {
    const packet = decodePacket(hex("30 06 0004 efbbbf61"))
    expect(packet).toMatchObject({ _tag: "Publish", topic: "\uFEFFa" })
  })

  it("returns payloads as views of the input, not copies", () => {
    const bytes = hex("30 07 0003 612f62 6869")
    const packet = decodePacket(bytes)
    expect(packet._tag).toBe("Publish")
    if (packet._tag === "Publish") {
      expect(packet.payload.buffer).toBe(bytes.buffer)
      expect(packet.payload.byteOffset).toBe(7)
    }
  })
})

describe("remaining length boundaries [MQTT-2.2.3]", () => {
  const cases: ReadonlyArray<readonly [number, string]> = [
    [0, "00"],
    [127, "7f"],
    [128, "80 01"],
    [16383, "ff 7f"],
    [16384, "80 80 01"],
    [2097151, "ff ff 7f"],
    [2097152, "80 80 80 01"]
  ]
  for (const [rl, varint] of cases) {
    it(`remaining length ${rl} is ${varint}`, () => {
      if (rl === 0) {
        expect(encode({ _tag: "Disconnect" })).toEqual(hex(`e0 ${varint}`))
        return
      }
      // QoS 0 PUBLISH to "t": 3 bytes of topic, the rest payload.
      const payload = new Uint8Array(rl - 3)
      for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff
      const packet: Packet = { _tag: "Publish", topic: "t", payload, qos: 0, retain: false, dup: false }
      const bytes = encode(packet)
      const header = hex(`30 ${varint} 0001 74`)
      expect(bytes.length).toBe(header.length + rl - 3)
      expect(encodedLength(packet)).toBe(bytes.length)
      expect(Uint8Array.from(bytes.subarray(0, header.length))).toEqual(header) // large outputs may be Node Buffers
      const decoded = decodePacket(bytes)
      expect({ ...decoded, payload: null }).toEqual({ ...packet, payload: null })
      expect(decoded._tag === "Publish" && Buffer.from(decoded.payload).equals(payload)).toBe(true)
    })
  }
})
