/**
 * The protocol version types the API: version 4 by default (so MQTT 3.1.1 callers are unchanged),
 * `Packet<5>` and `Decoder<5>` when asked for, either when the version is only known at run time.
 */
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { DecodeError, Decoder, decodePacket, encode } from "../src/index.ts"
import type { Connack, Packet, PacketTag, ProtocolVersion, Publish, Suback } from "../src/index.ts"

describe("types of the version parameter", () => {
  it("defaults to MQTT 3.1.1", () => {
    const packet = decodePacket(new Uint8Array([0x20, 0x02, 0x00, 0x00]))
    expectTypeOf(packet).toEqualTypeOf<Packet | DecodeError>()
    expectTypeOf<Connack>().toHaveProperty("returnCode")
    expectTypeOf<PacketTag>().not.toEqualTypeOf<PacketTag<5>>()
    expectTypeOf(Decoder.make({ maxPacketSize: 10 })).toEqualTypeOf<Decoder<4>>()
    expect(packet).toEqual({ _tag: "Connack", sessionPresent: false, returnCode: 0 })
  })

  it("types MQTT 5.0 packets when asked for", () => {
    const decoder = Decoder.make({ protocolVersion: 5 })
    expectTypeOf(decoder).toEqualTypeOf<Decoder<5>>()
    const packets = decoder.push(new Uint8Array([0xf0, 0x00]))
    expectTypeOf(packets).toEqualTypeOf<Array<Packet<5>> | DecodeError>()
    expectTypeOf<Connack<5>>().toHaveProperty("reasonCode")
    expectTypeOf<Suback<5>["returnCodes"][number]>().toEqualTypeOf<0 | 1 | 2 | 128 | 131 | 135 | 143 | 145 | 151 | 158 | 161 | 162>()
    expect(packets).toEqual([{ _tag: "Auth", reasonCode: 0 }])
  })

  it("takes either version when it is known only at run time", () => {
    const roundTrip = <V extends ProtocolVersion>(p: Packet<V>, protocolVersion: V): Packet<V> | DecodeError =>
      decodePacket(encode(p, { protocolVersion }), { protocolVersion })
    const publish: Publish<5> = { _tag: "Publish", topic: "t", payload: new Uint8Array(0), qos: 0, retain: false, dup: false }
    expect(roundTrip(publish, 5)).toEqual(publish)
    expect(roundTrip<ProtocolVersion>({ _tag: "Pingreq" }, 4)).toEqual({ _tag: "Pingreq" })
    expect(roundTrip({ _tag: "Disconnect", reasonCode: 0x8e }, 5)).not.toBeInstanceOf(DecodeError)
  })
})
