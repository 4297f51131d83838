import { Decoder, encode, encodeAll, type Packet } from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { packet } from "./arbitraries.ts"

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

describe("encodeAll", () => {
  it("is the concatenation of encode for every packet, and decodes back to the packets", () => {
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 40 }), (packets: Array<Packet>) => {
        const batch = encodeAll(packets)
        assert.deepStrictEqual([...batch], [...concat(packets.map(encode))])
        const decoded = Decoder.make().push(batch)
        assert.deepStrictEqual(decoded, packets)
      }),
      { numRuns: 300 }
    )
  })
})
