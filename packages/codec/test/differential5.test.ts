/**
 * MQTT 5.0 differential tests against `mqtt-packet` with `protocolVersion: 5`: our bytes parse to the
 * same packet there, its bytes decode to the same packet here (and, where both write the same form,
 * are the same bytes), and whatever we accept from mutated input it accepts alike. Its property names
 * are the standard's, as ours.
 *
 * Where mqtt-packet differs, and the tests account for it:
 * - `userProperties` is an object, `{ [name]: value | value[] }`, so User Property order and
 *   repetition are lost: pairs with the same name are gathered under the first occurrence of the
 *   name, and names follow JavaScript's key order (integer-like names such as "1" first, ascending),
 *   not the wire order [MQTT-3.3.2-18]. Its parser also drops pairs: a name repeated after the value
 *   "" keeps only its later value (it tests the first value for truthiness). Ours is the list of
 *   `[name, value]` pairs in wire order.
 * - A single Subscription Identifier of a PUBLISH is a number, several are an array
 *   (`subscriptionIdentifier`); ours is always the list `subscriptionIdentifiers`.
 * - It writes no short forms but that of PUBACK, PUBREC, PUBREL, PUBCOMP with reason code 0: a
 *   reason code other than 0 comes with a Property Length of 0 (remaining length 4, where ours is 3),
 *   and DISCONNECT and AUTH always carry their reason code and Property Length. It cannot parse the
 *   AUTH of remaining length 0 that the standard allows (and we write).
 * - It will not write a password without a user name, which MQTT 5.0 allows.
 * - It does not check properties (unknown, repeated, not allowed, out of range), reason codes of
 *   CONNACK, or DISCONNECT's 0x8C, which Table 2-6 lists and its own table lacks.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import mqttPacket from "mqtt-packet"
import type { Packet as PeerPacket, UserProperties as PeerUserProperties } from "mqtt-packet"
import { DecodeError, decodePacket, encode, propertyTable } from "../src/index.ts"
import type { Packet, UserProperties } from "../src/index.ts"
import * as Arb5 from "./arbitraries5.ts"
import { buffer, connectFromPeer, connectToPeer, peerParse, publishFromPeer, publishToPeer, willFromPeer, willToPeer } from "./peer.ts"

const v5 = { protocolVersion: 5 } as const
type Packet5 = Packet<5>

/**
 * Our User Properties as mqtt-packet's object: as its writer takes them, or (`parsed`) as its parser
 * builds them, which tests the value seen first for truthiness, so that a repeated name whose first
 * value is "" keeps only its last value.
 */
const group = (pairs: UserProperties, parsed = false): PeerUserProperties => {
  const out: Record<string, string | Array<string>> = Object.create(null)
  for (const [name, value] of pairs) {
    const seen = out[name]
    out[name] = seen === undefined || (parsed && seen === "") ? value : [...(typeof seen === "string" ? [seen] : seen), value]
  }
  return out
}

/** mqtt-packet's User Properties as our list, in its key order. */
const ungroup = (object: PeerUserProperties): UserProperties =>
  Object.keys(object).flatMap((name) => {
    const values = object[name] ?? []
    return (typeof values === "string" ? [values] : values).map((value): readonly [string, string] => [name, value])
  })

const ids = Object.entries(propertyTable).sort(([, a], [, b]) => a.id - b.id).map(([key]) => key)

/**
 * Properties between our shape and mqtt-packet's, keys in identifier order (as both write them); a
 * PUBLISH's Subscription Identifiers are a list here, a number or an array there.
 */
const convert = (
  properties: object | undefined,
  direction: "toPeer" | "fromPeer",
  publish: boolean,
  parsed = false
): object | undefined => {
  if (properties === undefined) return undefined
  const from = properties as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const key of ids) {
    if (key === (publish ? "subscriptionIdentifier" : "subscriptionIdentifiers")) continue
    const peerKey = key === "subscriptionIdentifiers" ? "subscriptionIdentifier" : key
    const value = from[direction === "toPeer" ? key : peerKey]
    if (value === undefined) continue
    if (direction === "toPeer") {
      out[peerKey] = key === "userProperties" ? group(value as UserProperties, parsed) : value instanceof Uint8Array ? buffer(value) : value
    } else if (key === "userProperties") out[key] = ungroup(value as PeerUserProperties)
    else if (key === "subscriptionIdentifiers") out[key] = typeof value === "number" ? [value] : value
    else out[key] = Buffer.isBuffer(value) ? new Uint8Array(value) : value
  }
  return out
}

/**
 * `p` as mqtt-packet writes it, or (`parsed`) parses it: User Properties gathered by name, in
 * JavaScript key order.
 */
const normalize = (p: Packet5, parsed = false): Packet5 => {
  const publish = p._tag === "Publish"
  const regroup = (props: object | undefined) => convert(convert(props, "toPeer", publish, parsed), "fromPeer", publish)
  const out: Record<string, unknown> = { ...p }
  if ("properties" in p) out["properties"] = regroup(p.properties)
  if (p._tag === "Connect" && p.will?.properties !== undefined) out["will"] = { ...p.will, properties: regroup(p.will.properties) }
  // The same packet, with its User Properties reordered.
  return out as Packet5
}

const withProperties = (fields: object, properties: object | undefined, publish = false): object =>
  properties === undefined ? fields : { ...fields, properties: convert(properties, "toPeer", publish) }

/** Our packet as an mqtt-packet object. */
const toPeer = (p: Packet5): PeerPacket => {
  const props = "properties" in p ? (p.properties as object | undefined) : undefined
  switch (p._tag) {
    case "Connect":
      return withProperties({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 5,
        ...connectToPeer(p),
        ...(p.will === undefined ? {} : { will: withProperties(willToPeer(p.will), p.will.properties) })
      }, props) as PeerPacket
    case "Connack":
      return withProperties({ cmd: "connack", sessionPresent: p.sessionPresent, reasonCode: p.reasonCode }, props) as PeerPacket
    case "Publish":
      return withProperties(publishToPeer(p), props, true) as PeerPacket
    case "Subscribe":
      return withProperties({
        cmd: "subscribe",
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({ topic: s.filter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling }))
      }, props) as PeerPacket
    case "Suback":
      return withProperties({ cmd: "suback", messageId: p.packetId, granted: [...p.returnCodes] }, props) as PeerPacket
    case "Unsubscribe":
      return withProperties({ cmd: "unsubscribe", messageId: p.packetId, unsubscriptions: [...p.filters] }, props) as PeerPacket
    case "Unsuback":
      return withProperties({ cmd: "unsuback", messageId: p.packetId, granted: [...p.reasonCodes] }, props) as PeerPacket
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
      return withProperties({ cmd: p._tag.toLowerCase(), messageId: p.packetId, reasonCode: p.reasonCode }, props) as PeerPacket
    case "Pingreq":
    case "Pingresp":
      return { cmd: p._tag === "Pingreq" ? "pingreq" : "pingresp" }
    case "Disconnect":
    case "Auth":
      return withProperties({ cmd: p._tag.toLowerCase(), reasonCode: p.reasonCode }, props) as PeerPacket
  }
}

/** A parsed mqtt-packet object in our shape (the fields MQTT 5.0 defines). */
const fromPeer = (p: PeerPacket): unknown => {
  const props = (q: { readonly properties?: object }) =>
    q.properties === undefined ? {} : { properties: convert(q.properties, "fromPeer", p.cmd === "publish") }
  switch (p.cmd) {
    case "connect":
      return {
        ...connectFromPeer(p),
        ...(p.will === undefined || p.will === null ? {} : { will: { ...willFromPeer(p.will), ...props(p.will) } }),
        ...props(p)
      }
    case "connack":
      return { _tag: "Connack", sessionPresent: p.sessionPresent, reasonCode: p.reasonCode, ...props(p) }
    case "publish":
      return { ...publishFromPeer(p), ...props(p) }
    case "subscribe":
      return {
        _tag: "Subscribe",
        packetId: p.messageId,
        subscriptions: p.subscriptions.map((s) => ({ filter: s.topic, qos: s.qos, noLocal: s.nl, retainAsPublished: s.rap, retainHandling: s.rh })),
        ...props(p)
      }
    case "suback":
      return { _tag: "Suback", packetId: p.messageId, returnCodes: p.granted, ...props(p) }
    case "unsubscribe":
      return { _tag: "Unsubscribe", packetId: p.messageId, filters: p.unsubscriptions, ...props(p) }
    case "unsuback":
      return { _tag: "Unsuback", packetId: p.messageId, reasonCodes: p.granted, ...props(p) }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return { _tag: p.cmd[0]?.toUpperCase() + p.cmd.slice(1), packetId: p.messageId, reasonCode: p.reasonCode, ...props(p) }
    case "pingreq":
      return { _tag: "Pingreq" }
    case "pingresp":
      return { _tag: "Pingresp" }
    case "disconnect":
      return { _tag: "Disconnect", reasonCode: p.reasonCode, ...props(p) }
    case "auth":
      return { _tag: "Auth", reasonCode: p.reasonCode, ...props(p) }
  }
}

/** Not the short AUTH (remaining length 0), which mqtt-packet cannot parse, nor DISCONNECT 0x8C. */
const peerCanParse = (p: Packet5): boolean =>
  !(p._tag === "Auth" && p.reasonCode === 0 && p.properties === undefined) && !(p._tag === "Disconnect" && p.reasonCode === 0x8c)

/** mqtt-packet refuses a password without user name, and an empty client id with a persistent session. */
const peerCanGenerate = (p: Packet5): boolean =>
  p._tag !== "Connect" || ((p.password === undefined || p.username !== undefined) && (p.clientId !== "" || p.cleanSession))

/** Packets that mqtt-packet writes in the same form as we do (see the module's notes). */
const sameForm = (p: Packet5): boolean => {
  if (p._tag === "Disconnect" || p._tag === "Auth") return false
  const ack = p._tag === "Puback" || p._tag === "Pubrec" || p._tag === "Pubrel" || p._tag === "Pubcomp"
  return !ack || p.reasonCode === 0 || p.properties !== undefined
}

describe("MQTT 5.0 differential against mqtt-packet", () => {
  it("our encoding parses to the same packet in mqtt-packet", () => {
    fc.assert(
      fc.property(Arb5.packet.filter(peerCanParse), (p) => {
        const parsed = peerParse(encode(p, v5), 5)
        expect(parsed).not.toBeInstanceOf(Error)
        expect((parsed as Array<PeerPacket>).map(fromPeer)).toEqual([normalize(p, true)])
      }),
      { numRuns: 2000 }
    )
  })

  it("mqtt-packet's encoding decodes to the same packet here, byte for byte where the forms agree", () => {
    fc.assert(
      fc.property(Arb5.packet.filter(peerCanGenerate), (p) => {
        const bytes = new Uint8Array(mqttPacket.generate(toPeer(p), v5))
        const expected = normalize(p)
        expect(decodePacket(bytes, v5)).toEqual(expected)
        if (sameForm(p)) expect(encode(expected, v5)).toEqual(bytes)
      }),
      { numRuns: 2000 }
    )
  })

  it("keeps what mqtt-packet's object loses: User Property order and repetition [MQTT-3.3.2-18]", () => {
    const userProperties: UserProperties = [["z", "1"], ["a", "2"], ["z", "3"], ["1", "4"]]
    const p: Packet5 = { _tag: "Puback", packetId: 1, reasonCode: 0, properties: { userProperties } }
    expect(decodePacket(encode(p, v5), v5)).toEqual(p)
    const parsed = peerParse(encode(p, v5), 5) as Array<PeerPacket>
    expect((fromPeer(parsed[0] as PeerPacket) as { properties: { userProperties: UserProperties } }).properties.userProperties)
      .toEqual([["1", "4"], ["z", "1"], ["z", "3"], ["a", "2"]])
  })

  it("mutated packets we accept, mqtt-packet accepts as the same packet", () => {
    const int = Arb5.integers(29)
    const bases = fc.sample(Arb5.packet.filter(peerCanParse), { numRuns: 300, seed: 23 })
      .map((p) => encode(p, v5))
      .filter((b) => b.length < 400)
    let checked = 0
    for (let i = 0; i < 20_000; i++) {
      const bytes = Arb5.mutate(int, bases[int(bases.length)] as Uint8Array)
      const ours = decodePacket(bytes, v5)
      if (ours instanceof DecodeError || !peerCanParse(ours)) continue
      checked++
      const parsed = peerParse(bytes, 5)
      if (parsed instanceof Error) expect([ours, parsed.message]).toBeUndefined()
      else expect(parsed.map(fromPeer)).toEqual([normalize(ours, true)])
    }
    expect(checked).toBeGreaterThan(100)
  })
})
