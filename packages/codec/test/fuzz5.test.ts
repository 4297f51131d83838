/**
 * MQTT 5.0 fuzzing: 100,000 random and mutated byte strings, decoded as version 5, each give a
 * packet or a `DecodeError`, never an exception; the streaming decoder agrees with the one-shot
 * one. Whatever is accepted is valid to send and stable: it re-encodes (in the shortest form, so not
 * always to the same bytes) to bytes that decode to the same packet.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { DecodeError, Decoder, decodePacket, encode, packetError } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import * as Arb5 from "./arbitraries5.ts"

const v5 = { protocolVersion: 5 } as const
const INPUTS = 100_000

/** xorshift32 over a seed, as integers below `n`: the same inputs on every run. */
const integers = (seed: number) => {
  let x = seed | 0 || 1
  return (n: number): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % n
  }
}

/** `bytes` with `remove` bytes at `at` replaced by `insert`. */
const splice = (bytes: Uint8Array, at: number, remove: number, insert: ReadonlyArray<number>): Uint8Array => {
  const out = Array.from(bytes)
  out.splice(at, remove, ...insert)
  return Uint8Array.from(out)
}

/** One to three edits: flip a bit, set a byte, cut the tail, insert a property-like run, drop a byte. */
const mutate = (int: (n: number) => number, base: Uint8Array): Uint8Array => {
  let bytes = base
  for (let edits = 1 + int(3); edits > 0; edits--) {
    const at = int(bytes.length + 1)
    const op = int(5)
    if (op === 0 && at < bytes.length) bytes = splice(bytes, at, 1, [(bytes[at] as number) ^ (1 << int(8))])
    else if (op === 1 && at < bytes.length) bytes = splice(bytes, at, 1, [int(256)])
    else if (op === 2) bytes = bytes.subarray(0, at)
    else if (op === 3) bytes = splice(bytes, at, 0, [int(0x2c), ...Array.from({ length: int(5) }, () => int(256))])
    else if (at < bytes.length) bytes = splice(bytes, at, 1, [])
  }
  return bytes
}

/** The packets of `bytes` pushed to a version 5 `Decoder` in chunks of 1 to 8 bytes. */
const streamed = (int: (n: number) => number, bytes: Uint8Array): Array<Packet<5>> | DecodeError => {
  const decoder = Decoder.make(v5)
  const packets: Array<Packet<5>> = []
  for (let pos = 0; pos < bytes.length;) {
    const size = 1 + int(8)
    const result = decoder.push(bytes.subarray(pos, pos + size))
    if (result instanceof DecodeError) return result
    packets.push(...result)
    pos += size
  }
  return packets
}

describe("MQTT 5.0 fuzz", () => {
  it(`${INPUTS} random and mutated inputs give a packet or a DecodeError, never an exception`, () => {
    const int = integers(20260501)
    const bases = fc.sample(Arb5.packet, { numRuns: 800, seed: 17 })
      .map((p) => encode(p, v5))
      .filter((b) => b.length <= 600)
    let accepted = 0
    for (let i = 0; i < INPUTS; i++) {
      const bytes = i % 5 === 0
        ? Uint8Array.from({ length: int(48) }, () => int(256))
        : mutate(int, bases[int(bases.length)] as Uint8Array)
      // Any exception fails the test right here.
      const result = decodePacket(bytes, v5)
      const stream = streamed(int, bytes)
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
  })
})
