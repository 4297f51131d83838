/**
 * Fuzzing: random and mutated byte strings never make the decoders throw; they give a packet or a
 * `DecodeError`. Whatever the strict decoder accepts is canonical: it re-encodes to the same bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DecodeError, Decoder, decodePacket, encode, packetError } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import * as Arb from "./arbitraries.ts"

/** mulberry32: a small seeded PRNG, so failures are reproducible. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const ITERATIONS = 100_000

const mutate = (random: () => number, base: Uint8Array): Uint8Array => {
  const int = (n: number) => Math.floor(random() * n)
  let bytes = Uint8Array.from(base)
  const rounds = 1 + int(3)
  for (let r = 0; r < rounds; r++) {
    switch (int(5)) {
      case 0: // bit flip
        if (bytes.length > 0) bytes[int(bytes.length)]! ^= 1 << int(8)
        break
      case 1: // random byte
        if (bytes.length > 0) bytes[int(bytes.length)] = int(256)
        break
      case 2: // truncation
        bytes = bytes.subarray(0, int(bytes.length + 1))
        break
      case 3: { // insertion
        const at = int(bytes.length + 1)
        const inserted = Uint8Array.from({ length: 1 + int(4) }, () => int(256))
        const out = new Uint8Array(bytes.length + inserted.length)
        out.set(bytes.subarray(0, at))
        out.set(inserted, at)
        out.set(bytes.subarray(at), at + inserted.length)
        bytes = out
        break
      }
      default: { // deletion
        if (bytes.length === 0) break
        const at = int(bytes.length)
        const out = new Uint8Array(Math.max(0, bytes.length - 1))
        out.set(bytes.subarray(0, at))
        out.set(bytes.subarray(at + 1), at)
        bytes = out
      }
    }
  }
  return bytes
}

describe("fuzz", () => {
  it(`${ITERATIONS} random and mutated inputs never throw`, () => {
    const random = prng(20240601)
    const int = (n: number) => Math.floor(random() * n)
    const bases = fc.sample(Arb.packet, { numRuns: 600, seed: 7 }).map(encode).filter((b) => b.length <= 600)
    let accepted = 0
    let rejected = 0
    for (let i = 0; i < ITERATIONS; i++) {
      const bytes = i % 4 === 0
        ? Uint8Array.from({ length: int(48) }, () => int(256))
        : mutate(random, bases[int(bases.length)]!)
      // Neither decoder may throw: any exception fails the test right here.
      const result: Packet | DecodeError = decodePacket(bytes)
      const decoder = Decoder.make()
      let streamed: Array<Packet> | DecodeError = []
      for (let pos = 0; pos < bytes.length && !(streamed instanceof DecodeError);) {
        const size = 1 + int(8)
        const pushed: Array<Packet> | DecodeError = decoder.push(bytes.subarray(pos, pos + size))
        streamed = pushed instanceof DecodeError ? pushed : [...streamed, ...pushed]
        pos += size
      }
      if (result instanceof DecodeError) {
        rejected++
        expect(result._tag).toBe("DecodeError")
      } else {
        accepted++
        // Canonical: the strict decoder accepts exactly the bytes the encoder writes.
        if (!Buffer.from(encode(result)).equals(bytes)) expect(encode(result)).toEqual(bytes)
        if (packetError(result) !== undefined) expect(packetError(result)).toBeUndefined()
        if (!(streamed instanceof DecodeError) && streamed.length === 1) expect(streamed[0]).toEqual(result)
        else expect(streamed).toEqual([result])
      }
    }
    expect(accepted + rejected).toBe(ITERATIONS)
    expect(accepted).toBeGreaterThan(100) // mutations that keep a packet valid do occur
  }, 120_000) // a bounded count, not a speed test: a busy machine takes longer

  it("the UTF-8 check agrees with a fatal TextDecoder (plus the U+0000 rule)", () => {
    const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
    const random = prng(99)
    const int = (n: number) => Math.floor(random() * n)
    for (let i = 0; i < 20_000; i++) {
      // Mostly high bytes, where the interesting UTF-8 cases are.
      const s = Uint8Array.from({ length: 1 + int(8) }, () => (random() < 0.8 ? 0x80 + int(128) : int(128)))
      const packet = new Uint8Array(4 + s.length)
      packet.set([0x30, 2 + s.length, 0, s.length])
      packet.set(s, 4)
      let expected: string | undefined
      try {
        expected = fatal.decode(s)
      } catch {
        expected = undefined
      }
      const result = decodePacket(packet)
      if (expected === undefined) {
        // Both rules reject; whichever comes first in the bytes is reported.
        expect((result as DecodeError).message).toBe(
          s.includes(0)
            ? (result as DecodeError).message
            : "PUBLISH topic name is not well-formed UTF-8 [MQTT-1.5.3-1]"
        )
        expect(result).toBeInstanceOf(DecodeError)
      } else if (expected.includes("\u0000")) {
        expect((result as DecodeError).message).toContain("U+0000")
      } else if (!expected.includes("+") && !expected.includes("#")) {
        expect(result).toMatchObject({ _tag: "Publish", topic: expected })
      }
    }
  })
})
