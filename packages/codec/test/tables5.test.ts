/**
 * The tables the codec is driven by, checked against the standard: packet types (Table 2-1),
 * properties (Table 2-4) and reason codes (Table 2-6 and the per-packet tables of chapter 3).
 */
import { describe, expect, it } from "@effect/vitest"
import { PacketType, propertyTable, ReasonCode, reasonCodeName, reasonCodesOf } from "../src/index.ts"
import type { PropertyCarrier, ReasonCodeCarrier } from "../src/index.ts"

const carrying = (carrier: PropertyCarrier): Array<string> =>
  Object.entries(propertyTable)
    .filter(([, p]) => (p.carriers as ReadonlyArray<PropertyCarrier>).includes(carrier))
    .map(([key]) => key)
    .sort()

describe("tables", () => {
  it("PacketType numbers every packet, AUTH 15 [MQTT-2.1.2]", () => {
    expect(Object.values(PacketType).sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1))
    expect(PacketType.Publish).toBe(3)
    expect(PacketType.Auth).toBe(15)
  })

  it("properties: 27 identifiers, each once but Subscription Identifier (a list in PUBLISH only)", () => {
    const ids = Object.values(propertyTable).map((p) => p.id)
    expect(new Set(ids).size).toBe(27)
    expect(ids.filter((id) => id === 0x0b).length).toBe(2)
    expect(Math.max(...ids)).toBe(0x2a)
  })

  it("properties of each packet and of the will, as Table 2-4 lists them", () => {
    expect(carrying("Will")).toEqual(
      ["contentType", "correlationData", "messageExpiryInterval", "payloadFormatIndicator", "responseTopic", "userProperties", "willDelayInterval"]
    )
    expect(carrying("Connect")).toEqual([
      "authenticationData",
      "authenticationMethod",
      "maximumPacketSize",
      "receiveMaximum",
      "requestProblemInformation",
      "requestResponseInformation",
      "sessionExpiryInterval",
      "topicAliasMaximum",
      "userProperties"
    ])
    expect(carrying("Connack").length).toBe(17)
    expect(carrying("Publish")).toEqual([
      "contentType",
      "correlationData",
      "messageExpiryInterval",
      "payloadFormatIndicator",
      "responseTopic",
      "subscriptionIdentifiers",
      "topicAlias",
      "userProperties"
    ])
    expect(carrying("Subscribe")).toEqual(["subscriptionIdentifier", "userProperties"])
    expect(carrying("Unsubscribe")).toEqual(["userProperties"])
    expect(carrying("Disconnect")).toEqual(["reasonString", "serverReference", "sessionExpiryInterval", "userProperties"])
    expect(carrying("Auth")).toEqual(["authenticationData", "authenticationMethod", "reasonString", "userProperties"])
    // AckProperties serves all six: they carry the same two properties.
    for (const ack of ["Puback", "Pubrec", "Pubrel", "Pubcomp", "Suback", "Unsuback"] as const) {
      expect(carrying(ack)).toEqual(["reasonString", "userProperties"])
    }
  })

  it("reason codes of each packet, as its chapter lists them", () => {
    const lists: ReadonlyArray<readonly [ReasonCodeCarrier, ReadonlyArray<number>]> = [
      ["Connack", [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]],
      ["Puback", [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]],
      ["Pubrec", [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]],
      ["Pubrel", [0x00, 0x92]],
      ["Pubcomp", [0x00, 0x92]],
      ["Suback", [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]],
      ["Unsuback", [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]],
      // Table 3-10, plus 0x8C, which Table 2-6 lists for DISCONNECT.
      [
        "Disconnect",
        [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2]
      ],
      ["Auth", [0x00, 0x18, 0x19]]
    ]
    for (const [carrier, codes] of lists) expect([carrier, reasonCodesOf(carrier)]).toEqual([carrier, codes])
  })

  it("names reason codes as the packet that carries them does", () => {
    expect(ReasonCode.NotAuthorized).toBe(0x87)
    expect(reasonCodeName("Disconnect", 0)).toBe("Normal disconnection")
    expect(reasonCodeName("Suback", 0)).toBe("Granted QoS 0")
    expect(reasonCodeName("Puback", 0)).toBe("Success")
    expect(reasonCodeName("Puback", 0x92)).toBeUndefined()
  })
})
