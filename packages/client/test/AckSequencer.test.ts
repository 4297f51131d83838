import type { Packet as VersionedPacket, ProtocolVersion } from "@aimeqtt/codec"

type Packet = VersionedPacket<ProtocolVersion>
import { assert, describe, it } from "@effect/vitest"
import { AckSequencer } from "../src/AckSequencer.ts"

const puback = (packetId: number): Packet => ({ _tag: "Puback", packetId })

describe("AckSequencer", () => {
  it("releases acknowledgements in arrival order [MQTT-4.6.0-2]", () => {
    const acks = new AckSequencer()
    const a = acks.hold([puback(1)], undefined)
    acks.addHolder(a)
    assert.deepStrictEqual(acks.seal(a).packets, [])
    const b = acks.hold([puback(2)], undefined) // auto-acknowledged, but behind `a`
    assert.deepStrictEqual(acks.seal(b).packets, [])
    assert.deepStrictEqual(acks.release(a).packets, [puback(1), puback(2)])
    assert.isTrue(acks.isEmpty)
  })

  it("waits for every manual holder and for the seal", () => {
    const acks = new AckSequencer()
    const a = acks.hold([puback(7)], undefined)
    acks.addHolder(a)
    acks.addHolder(a)
    assert.deepStrictEqual(acks.release(a).packets, []) // not sealed, one holder left
    assert.deepStrictEqual(acks.release(a).packets, []) // no holder left, but delivery still going on
    assert.deepStrictEqual(acks.seal(a).packets, [puback(7)])
  })

  it("clear returns what was never acknowledged, with QoS 2 ids", () => {
    const acks = new AckSequencer()
    const a = acks.hold([{ _tag: "Pubrec", packetId: 3 }], 3)
    acks.addHolder(a)
    acks.seal(a)
    const left = acks.clear()
    assert.deepStrictEqual(left.map((held) => held.packetId), [3])
    assert.isTrue(acks.isEmpty)
  })

  it("a held QoS 2 id's changes come out with its PUBREC, in order, once it is acknowledged", () => {
    const acks = new AckSequencer()
    const a = acks.hold([{ _tag: "Pubrec", packetId: 3 }], 3, [{ _tag: "AddIncoming", packetId: 3 }])
    acks.addHolder(a)
    assert.deepStrictEqual(acks.seal(a), { packets: [], changes: [] })
    const b = acks.hold([{ _tag: "Pubrec", packetId: 4 }], 4, [{ _tag: "AddIncoming", packetId: 4 }])
    assert.deepStrictEqual(acks.seal(b), { packets: [], changes: [] })
    assert.deepStrictEqual(acks.release(a), {
      packets: [{ _tag: "Pubrec", packetId: 3 }, { _tag: "Pubrec", packetId: 4 }],
      changes: [{ _tag: "AddIncoming", packetId: 3 }, { _tag: "AddIncoming", packetId: 4 }]
    })
  })

  it("keeps order over many messages acknowledged in reverse", () => {
    const acks = new AckSequencer()
    const held = Array.from({ length: 2000 }, (_, i) => {
      const h = acks.hold([puback(i + 1)], undefined)
      acks.addHolder(h)
      acks.seal(h)
      return h
    })
    const out: Array<Packet> = []
    for (const h of [...held].reverse()) out.push(...acks.release(h).packets)
    assert.deepStrictEqual(out.map((p) => (p._tag === "Puback" ? p.packetId : 0)), held.map((_, i) => i + 1))
  })
})
