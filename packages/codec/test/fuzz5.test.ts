/**
 * MQTT 5.0 fuzzing: 100,000 random and mutated byte strings, decoded as version 5, each give a
 * packet or a `DecodeError`, never an exception; the streaming decoder agrees with the one-shot
 * one. Whatever is accepted is valid to send and stable: it re-encodes (in the shortest form, so not
 * always to the same bytes) to bytes that decode to the same packet.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DecodeError, Decoder, decodePacket, encode, packetError } from "../src/index.ts"
import * as Arb5 from "./arbitraries5.ts"

const v5 = { protocolVersion: 5 } as const
const INPUTS = 100_000

describe("MQTT 5.0 fuzz", () => {
  it(`${INPUTS} random and mutated inputs give a packet or a DecodeError, never an exception`, () => {
    const int = Arb5.integers(20260501)
    const bases = fc.sample(Arb5.packet, { numRuns: 800, seed: 17 })
      .map((p) => encode(p, v5))
      .filter((b) => b.length <= 600)
    let accepted = 0
    for (let i = 0; i < INPUTS; i++) {
      const bytes = i % 5 === 0
        ? Uint8Array.from({ length: int(48) }, () => int(256))
        : Arb5.mutate(int, bases[int(bases.length)] as Uint8Array)
      // Any exception fails the test right here.
      const result = decodePacket(bytes, v5)
      // Through a streaming decoder too, in chunks of 1 to 8 bytes.
      const stream = Arb5.pushAll(Decoder.make(v5), Arb5.chunks(bytes, Array.from({ length: 8 }, () => 1 + int(8))))
      if (result instanceof DecodeError) {
        expect(result._tag).toBe("DecodeError")
        continue
      }
      accepted++
      if (!(stream instanceof DecodeError) && stream.length === 1) expect(stream[0]).toEqual(result)
      else expect(stream).toEqual([result])
      const issue = packetError(result, 5)
      if (issue !== undefined) expect(issue).toBeUndefined()
      const again = decodePacket(encode(result, v5), v5)
      expect(again).toEqual(result)
    }
    expect(accepted).toBeGreaterThan(1000) // mutations that keep a packet valid do occur
  }, 120_000) // a bounded count, not a speed test: a busy machine takes longer
})
