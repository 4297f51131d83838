/**
 * MQTT 5.0 property tests: `decodePacket(encode(p))` gives back `p` for arbitrary valid packets of
 * every kind, with any properties; any chunking of a stream of them decodes to the same packets;
 * `encodeAll` is the concatenation of `encode`; and the Schema transformation `packetFromBytes(5)`
 * agrees with both.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { DecodeError, Decoder, decodePacket, encode, encodeAll, encodedLength, packetError, packetFromBytes } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import * as Arb from "./arbitraries.ts"
import * as Arb5 from "./arbitraries5.ts"

const v5 = { protocolVersion: 5 } as const
const encode5 = (p: Packet<5>): Uint8Array => encode(p, v5)

/** Splits `bytes` at the given cut points (taken modulo its length). */
const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, p))
    start = p
  }
  return chunks
}

const decodeChunks = (chunks: ReadonlyArray<Uint8Array>): Array<Packet<5>> | DecodeError => {
  const decoder = Decoder.make(v5)
  const out: Array<Packet<5>> = []
  for (const chunk of chunks) {
    const result = decoder.push(chunk)
    if (result instanceof DecodeError) return result
    out.push(...result)
  }
  expect(decoder.bufferedBytes).toBe(0)
  expect(decoder.end()).toBeUndefined()
  return out
}

describe("MQTT 5.0 round trip", () => {
  const kinds: ReadonlyArray<readonly [string, fc.Arbitrary<Packet<5>>]> = [
    ["CONNECT", Arb5.connect],
    ["CONNACK", Arb5.connack],
    ["PUBLISH", Arb5.publish],
    ["PUBACK, PUBREC, PUBREL, PUBCOMP", Arb5.acks],
    ["SUBSCRIBE", Arb5.subscribe],
    ["SUBACK", Arb5.suback],
    ["UNSUBSCRIBE", Arb5.unsubscribe],
    ["UNSUBACK", Arb5.unsuback],
    ["DISCONNECT", Arb5.disconnect],
    ["AUTH", Arb5.auth],
    ["PINGREQ, PINGRESP", Arb5.empty]
  ]
  for (const [name, arb] of kinds) {
    it(`decodePacket(encode(p)) = p for ${name}, and p is valid to send`, () => {
      fc.assert(
        fc.property(arb, (p) => {
          const bytes = encode5(p)
          expect(bytes.length).toBe(encodedLength(p, v5))
          expect(decodePacket(bytes, v5)).toEqual(p)
          expect(packetError(p, 5)).toBeUndefined()
        }),
        { numRuns: 300 }
      )
    })
  }
})

describe("MQTT 5.0 chunked decoding", () => {
  it("any split of a stream of packets decodes to the same packets", () => {
    fc.assert(
      fc.property(fc.array(Arb5.packet, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (packets, cuts) => {
        const stream = Arb.concat(packets.map(encode5))
        expect(decodeChunks(split(stream, cuts))).toEqual(packets)
      }),
      { numRuns: 200 }
    )
  })

  it("1-byte chunks decode to the same packets", () => {
    fc.assert(
      fc.property(fc.array(Arb5.packet, { minLength: 1, maxLength: 5 }), (packets) => {
        const stream = Arb.concat(packets.map(encode5))
        const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
        expect(decodeChunks(chunks)).toEqual(packets)
      }),
      { numRuns: 50 }
    )
  })

  it("encodeAll is the concatenation of encode", () => {
    fc.assert(
      fc.property(fc.array(Arb5.packet, { minLength: 1, maxLength: 20 }), (packets) => {
        expect([...encodeAll(packets, v5)]).toEqual([...Arb.concat(packets.map(encode5))])
      }),
      { numRuns: 100 }
    )
  })
})

describe("packetFromBytes(5)", () => {
  it("round-trips arbitrary valid packets through the schema", async () => {
    const schema = packetFromBytes(5)
    await fc.assert(
      fc.asyncProperty(Arb5.packet, async (p) => {
        const bytes = await Effect.runPromise(Schema.encodeEffect(schema)(p))
        expect(bytes).toEqual(encode5(p))
        expect(await Effect.runPromise(Schema.decodeUnknownEffect(schema)(bytes))).toEqual(p)
      }),
      { numRuns: 200 }
    )
  })
})
