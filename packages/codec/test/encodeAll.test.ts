import { Decoder, encode, encodeAll, encodedLength, encodePublishHead, type Packet } from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Arb from "./arbitraries.ts"
import { concat, packet } from "./arbitraries.ts"
import * as Arb5 from "./arbitraries5.ts"

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

describe("encodePublishHead", () => {
  // The client writes a large payload without copying it: the head, then the caller's bytes.
  it("followed by the payload is encode(packet), MQTT 3.1.1 and 5.0", () => {
    fc.assert(
      fc.property(Arb.publish, (p) => {
        const head = encodePublishHead(p)
        assert.strictEqual(head.length, encodedLength(p) - p.payload.length)
        assert.deepStrictEqual([...concat([head, p.payload])], [...encode(p)])
      }),
      { numRuns: 300 }
    )
    fc.assert(
      fc.property(Arb5.publish, (p) => {
        const options = { protocolVersion: 5 } as const
        const head = encodePublishHead<5>(p, options)
        assert.strictEqual(head.length, encodedLength<5>(p, options) - p.payload.length)
        assert.deepStrictEqual([...concat([head, p.payload])], [...encode<5>(p, options)])
      }),
      { numRuns: 300 }
    )
  })

  it("does not read the payload's bytes: an empty head of a 1 MiB payload is a few bytes", () => {
    const payload = new Uint8Array(1024 * 1024).fill(7)
    const p = { _tag: "Publish", topic: "a/b", payload, qos: 1, packetId: 9, retain: false, dup: false } as const
    const head = encodePublishHead(p)
    // fixed header (1 + 3 bytes of remaining length) + topic (2 + 3) + packet id (2)
    assert.strictEqual(head.length, 11)
    assert.deepStrictEqual([...concat([head, payload])], [...encode(p)])
  })
})
