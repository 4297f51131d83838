/**
 * Property tests: `decodePacket(encode(p))` gives back `p` for arbitrary valid packets, and any
 * chunking of a stream of encoded packets decodes to the same packets.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DecodeError, Decoder, decodePacket, encode, encodedLength } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import * as Arb from "./arbitraries.ts"

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

const decodeChunks = (chunks: ReadonlyArray<Uint8Array>): Array<Packet> | DecodeError => {
  const decoder = Decoder.make()
  const out: Array<Packet> = []
  for (const chunk of chunks) {
    const result = decoder.push(chunk)
    if (result instanceof DecodeError) return result
    out.push(...result)
  }
  expect(decoder.bufferedBytes).toBe(0)
  expect(decoder.end()).toBeUndefined()
  return out
}

describe("round trip", () => {
  const kinds: ReadonlyArray<readonly [string, fc.Arbitrary<Packet>]> = [
    ["CONNECT", Arb.connect],
    ["CONNACK", Arb.connack],
    ["PUBLISH", Arb.publish],
    ["SUBSCRIBE", Arb.subscribe],
    ["SUBACK", Arb.suback],
    ["UNSUBSCRIBE", Arb.unsubscribe],
    ["acknowledgements", Arb.ack],
    ["empty packets", Arb.empty]
  ]
  for (const [name, arb] of kinds) {
    it(`decodePacket(encode(p)) = p for ${name}`, () => {
      fc.assert(
        fc.property(arb, (p) => {
          const bytes = encode(p)
          expect(bytes.length).toBe(encodedLength(p))
          expect(decodePacket(bytes)).toEqual(p)
        }),
        { numRuns: 300 }
      )
    })
  }
})

describe("chunked decoding", () => {
  it("any split of a stream of packets decodes to the same packets", () => {
    fc.assert(
      fc.property(
        fc.array(Arb.packet, { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (packets, cuts) => {
          const stream = Arb.concat(packets.map(encode))
          expect(decodeChunks(split(stream, cuts))).toEqual(packets)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("1-byte chunks decode to the same packets", () => {
    fc.assert(
      fc.property(fc.array(Arb.packet, { minLength: 1, maxLength: 5 }), (packets) => {
        const stream = Arb.concat(packets.map(encode))
        const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
        expect(decodeChunks(chunks)).toEqual(packets)
      }),
      { numRuns: 50 }
    )
  })

  it("a whole stream in one chunk decodes in place", () => {
    fc.assert(
      fc.property(fc.array(Arb.publish, { minLength: 1, maxLength: 10 }), (packets) => {
        const stream = Arb.concat(packets.map(encode))
        const decoder = Decoder.make()
        const result = decoder.push(stream)
        expect(result).toEqual(packets)
        // Fast path: payloads are views of the pushed chunk.
        for (const p of result as Array<Packet>) {
          if (p._tag === "Publish") expect(p.payload.buffer).toBe(stream.buffer)
        }
        expect(decoder.bufferedBytes).toBe(0)
      }),
      { numRuns: 50 }
    )
  })
})
