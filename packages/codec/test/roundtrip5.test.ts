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

/** The packets of `chunks` through a version 5 `Decoder`, which must end with nothing buffered. */
const decodeChunks = (chunks: Iterable<Uint8Array>): Array<Packet<5>> | DecodeError => {
  const decoder = Decoder.make(v5)
  const packets = Arb5.pushAll(decoder, chunks)
  expect([decoder.bufferedBytes, decoder.end()]).toEqual([0, undefined])
  return packets
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
  it("a stream of packets in chunks of any sizes, 1 byte included, decodes to the same packets", () => {
    const sizes = fc.oneof(fc.constant([1]), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 10 }))
    fc.assert(
      fc.property(fc.array(Arb5.packet, { minLength: 1, maxLength: 20 }), sizes, (packets, chunkSizes) => {
        expect(decodeChunks(Arb5.chunks(Arb.concat(packets.map(encode5)), chunkSizes))).toEqual(packets)
      }),
      { numRuns: 250 }
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
  const encodeSchema = Schema.encodeEffect(packetFromBytes(5))
  const decodeSchema = Schema.decodeUnknownEffect(packetFromBytes(5))
  it.effect("encodes arbitrary valid packets as encode does, and decodes them back", () =>
    Effect.forEach(fc.sample(Arb5.packet, { numRuns: 200, seed: 31 }), (p) =>
      Effect.gen(function*() {
        const bytes = yield* encodeSchema(p)
        expect([bytes, yield* decodeSchema(bytes)]).toEqual([encode5(p), p])
      })))
  it.effect("fails with the decoder's message", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decodeSchema(new Uint8Array([0x40, 0x03, 0x00, 0x01, 0x05])))
      expect(error.message).toBe("PUBACK with reason code 0x05, not one of its reason codes [MQTT-3.4.2-1]")
    }))
})
