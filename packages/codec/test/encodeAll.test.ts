import { Decoder, encode, encodeAll, type Packet } from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { concat, packet } from "./arbitraries.ts"

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
