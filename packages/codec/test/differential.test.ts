/**
 * Differential tests against `mqtt-packet`: our bytes parse to the same packet there, its bytes
 * decode to the same packet here, and whatever we accept from mutated input it accepts alike.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import mqttPacket from "mqtt-packet"
import type { Packet as PeerPacket } from "mqtt-packet"
import { DecodeError, decodePacket, encode } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import * as Arb from "./arbitraries.ts"
import { connectFromPeer, connectToPeer, peerParse, publishFromPeer, publishToPeer, willFromPeer, willToPeer } from "./peer.ts"

/** Our packet as an mqtt-packet object. */
const toPeer = (p: Packet): PeerPacket => {
  switch (p._tag) {
    case "Connect":
      return {
        cmd: "connect",
        protocolId: p.protocolLevel === 4 ? "MQTT" : "MQIsdp",
        protocolVersion: p.protocolLevel,
        ...connectToPeer(p),
        ...(p.will === undefined ? {} : { will: willToPeer(p.will) })
      }
    case "Connack":
      return { cmd: "connack", sessionPresent: p.sessionPresent, returnCode: p.returnCode }
    case "Publish":
      return publishToPeer(p)
    case "Subscribe":
      return {
        cmd: "subscribe",
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({ topic: s.filter, qos: s.qos }))
      }
    case "Suback":
      return { cmd: "suback", messageId: p.packetId, granted: [...p.returnCodes] }
    case "Unsubscribe":
      return { cmd: "unsubscribe", messageId: p.packetId, unsubscriptions: [...p.filters] }
    case "Unsuback":
      return { cmd: "unsuback", messageId: p.packetId, granted: [] }
    case "Puback":
      return { cmd: "puback", messageId: p.packetId }
    case "Pubrec":
      return { cmd: "pubrec", messageId: p.packetId }
    case "Pubrel":
      return { cmd: "pubrel", messageId: p.packetId }
    case "Pubcomp":
      return { cmd: "pubcomp", messageId: p.packetId }
    case "Pingreq":
      return { cmd: "pingreq" }
    case "Pingresp":
      return { cmd: "pingresp" }
    case "Disconnect":
      return { cmd: "disconnect" }
  }
}

/** The fields of a parsed mqtt-packet object that MQTT 3.1.1 defines, in our shape. */
const fromPeer = (p: PeerPacket): unknown => {
  switch (p.cmd) {
    case "connect":
      return { ...connectFromPeer(p), ...(p.will === undefined || p.will === null ? {} : { will: willFromPeer(p.will) }) }
    case "connack":
      return { _tag: "Connack", sessionPresent: p.sessionPresent, returnCode: p.returnCode }
    case "publish":
      return publishFromPeer(p)
    case "subscribe":
      return {
        _tag: "Subscribe",
        packetId: p.messageId,
        subscriptions: p.subscriptions.map((s) => ({ filter: s.topic, qos: s.qos }))
      }
    case "suback":
      return { _tag: "Suback", packetId: p.messageId, returnCodes: p.granted }
    case "unsubscribe":
      return { _tag: "Unsubscribe", packetId: p.messageId, filters: p.unsubscriptions }
    case "unsuback":
      return { _tag: "Unsuback", packetId: p.messageId }
    case "puback":
      return { _tag: "Puback", packetId: p.messageId }
    case "pubrec":
      return { _tag: "Pubrec", packetId: p.messageId }
    case "pubrel":
      return { _tag: "Pubrel", packetId: p.messageId }
    case "pubcomp":
      return { _tag: "Pubcomp", packetId: p.messageId }
    case "pingreq":
      return { _tag: "Pingreq" }
    case "pingresp":
      return { _tag: "Pingresp" }
    case "disconnect":
      return { _tag: "Disconnect" }
    case "auth":
      return { _tag: "Auth" }
  }
}

/** mqtt-packet refuses to generate an empty client id with MQTT 3.1 or a persistent session. */
const peerCanGenerate = (p: Packet): boolean =>
  p._tag !== "Connect" || p.clientId !== "" || (p.protocolLevel === 4 && p.cleanSession)

describe("differential against mqtt-packet", () => {
  it("our encoding parses to the same packet in mqtt-packet", () => {
    fc.assert(
      fc.property(Arb.packet, (p) => {
        const parsed = peerParse(encode(p), 4)
        expect(parsed).not.toBeInstanceOf(Error)
        expect((parsed as Array<PeerPacket>).map(fromPeer)).toEqual([p])
      }),
      { numRuns: 2000 }
    )
  })

  it("mqtt-packet's encoding decodes to the same packet here, byte for byte", () => {
    fc.assert(
      fc.property(Arb.packet.filter(peerCanGenerate), (p) => {
        const bytes = new Uint8Array(mqttPacket.generate(toPeer(p)))
        expect(decodePacket(bytes)).toEqual(p)
        expect(encode(p)).toEqual(bytes)
      }),
      { numRuns: 2000 }
    )
  })

  it("mutated packets we accept, mqtt-packet accepts as the same packet", () => {
    const bases = fc.sample(Arb.packet, { numRuns: 300, seed: 11 }).map(encode).filter((b) => b.length < 400)
    let checked = 0
    fc.assert(
      fc.property(
        fc.constantFrom(...bases),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 7 })), { minLength: 1, maxLength: 2 }),
        (base, flips) => {
          const bytes = Uint8Array.from(base)
          for (const [at, bit] of flips) bytes[at % bytes.length]! ^= 1 << bit
          const ours = decodePacket(bytes)
          if (ours instanceof DecodeError) return
          checked++
          const parsed = peerParse(bytes, 4)
          expect(parsed).not.toBeInstanceOf(Error)
          expect((parsed as Array<PeerPacket>).map(fromPeer)).toEqual([ours])
        }
      ),
      { numRuns: 20_000, seed: 5 }
    )
    expect(checked).toBeGreaterThan(100)
  })
})
