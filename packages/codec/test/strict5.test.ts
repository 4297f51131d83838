/**
 * Every MQTT 5.0 wire rule the decoder enforces, each with the exact `DecodeError` it produces and
 * the rule of the MQTT 5.0 standard it cites; then the rules `packetError` enforces before sending.
 */
import { describe, expect, it } from "@effect/vitest"
import { DecodeError, Decoder, decodePacket, packetError } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import { hex } from "./arbitraries.ts"
import { decodeError, itRejects, publish5, type Rule } from "./vectors.ts"

const v5 = { protocolVersion: 5 } as const

const rules: ReadonlyArray<Rule> = [
  // Fixed header [MQTT-2.1]
  ["packet type 0", "00 00", "reserved packet type 0 [MQTT-2.1.2]"],
  ["AUTH with flags", "f1 00", "AUTH with flags 0b0001, expected 0b0000 [MQTT-2.1.3-1]"],
  ["PUBREL without flags 0b0010", "60 02 0001", "PUBREL with flags 0b0000, expected 0b0010 [MQTT-2.1.3-1]"],
  ["non-minimal remaining length", "c0 80 00", "PINGREQ remaining length is not minimally encoded [MQTT-1.5.5-1]"],
  ["packet shorter than its remaining length", "40 03 0001", "PUBACK body of 2 bytes is shorter than its remaining length 3 [MQTT-2.1.4]"],
  // Properties [MQTT-2.2.2]
  ["an unknown property identifier", "30 07 0003 612f62 01 04", "PUBLISH properties hold unknown property identifier 0x04 [MQTT-2.2.2.2]"],
  [
    "a property the packet may not carry",
    "30 0b 0003 612f62 05 1100000001",
    "PUBLISH properties hold Session Expiry Interval (0x11), which a PUBLISH may not carry [MQTT-2.2.2.2]"
  ],
  [
    "a property the will may not carry",
    "10 16 0004 4d515454 05 06 0000 00 0000 03 230001 000174 0000",
    "CONNECT will properties hold Topic Alias (0x23), which a will may not carry [MQTT-2.2.2.2]"
  ],
  [
    "a property identifier of two bytes (0x80 0x00 is not minimal)",
    "30 08 0003 612f62 02 8000",
    "PUBLISH property identifier is not minimally encoded [MQTT-1.5.5-1]"
  ],
  [
    "a repeated Topic Alias",
    "30 0c 0003 612f62 06 230001 230002",
    "PUBLISH properties hold Topic Alias (0x23) more than once [MQTT-3.3.2.3]"
  ],
  [
    "a repeated Reason String",
    "40 0c 0001 80 08 1f000161 1f000162",
    "PUBACK properties hold Reason String (0x1f) more than once [MQTT-3.4.2.2]"
  ],
  [
    "a repeated Subscription Identifier in a SUBSCRIBE",
    "82 0b 0001 04 0b01 0b02 0001 23 00",
    "SUBSCRIBE properties hold Subscription Identifier (0x0b) more than once [MQTT-3.8.2.1]"
  ],
  [
    "a property length that overruns the packet",
    "30 07 0003 612f62 05 23",
    "PUBLISH property length 5 is longer than the 1 bytes that remain [MQTT-2.2.2.1]"
  ],
  [
    "a property value that overruns the property length",
    "30 0a 0003 612f62 01 23 000100",
    "PUBLISH Topic Alias needs 2 bytes but only 0 remain [MQTT-2.2.2.1]"
  ],
  [
    "a will property length that overruns the packet",
    "10 0f 0004 4d515454 05 06 0000 00 0000 09 00",
    "CONNECT will property length 9 is longer than the 1 bytes that remain [MQTT-2.2.2.1]"
  ],
  ["a non-minimal property length", "30 07 0003 612f62 8000", "PUBLISH property length is not minimally encoded [MQTT-1.5.5-1]"],
  ["a property length over 4 bytes", "30 0a 0003 612f62 ffffffff01", "PUBLISH property length is longer than 4 bytes [MQTT-1.5.5]"],
  ["a truncated property length", "30 06 0003 612f62 80", "PUBLISH property length runs past its end [MQTT-2.1.4]"],
  ["a missing property length (CONNACK)", "20 02 00 00", "CONNACK property length runs past its end [MQTT-2.1.4]"],
  [
    "a non-minimal Subscription Identifier",
    "30 09 0003 612f62 03 0b8100",
    "PUBLISH Subscription Identifier is not minimally encoded [MQTT-1.5.5-1]"
  ],
  [
    "a truncated Subscription Identifier",
    "30 08 0003 612f62 02 0b80",
    "PUBLISH Subscription Identifier runs past its end [MQTT-2.2.2.1]"
  ],
  ["Subscription Identifier 0 in a PUBLISH", "30 08 0003 612f62 02 0b00", "PUBLISH properties hold Subscription Identifier 0 [MQTT-3.3.2.3.8]"],
  [
    "Subscription Identifier 0 in a SUBSCRIBE",
    "82 09 0001 02 0b00 0001 23 00",
    "SUBSCRIBE properties hold Subscription Identifier 0 [MQTT-3.8.2.1.2]"
  ],
  ["Topic Alias 0", "30 09 0003 612f62 03 230000", "PUBLISH properties hold Topic Alias 0 [MQTT-3.3.2-8]"],
  ["Receive Maximum 0", "10 10 0004 4d515454 05 02 0000 03 210000 0000", "CONNECT properties hold Receive Maximum 0 [MQTT-3.1.2.11]"],
  ["Maximum Packet Size 0", "20 08 00 00 05 2700000000", "CONNACK properties hold Maximum Packet Size 0 [MQTT-3.2.2.3]"],
  ["Retain Available 2", "20 05 00 00 02 2502", "CONNACK properties hold Retain Available 2, expected 0 or 1 [MQTT-3.2.2.3]"],
  ["Maximum QoS 2", "20 05 00 00 02 2402", "CONNACK properties hold Maximum QoS 2, expected 0 or 1 [MQTT-3.2.2.3]"],
  [
    "Payload Format Indicator 2",
    "30 08 0003 612f62 02 0102",
    "PUBLISH properties hold Payload Format Indicator 2, expected 0 or 1 [MQTT-3.3.2.3]"
  ],
  [
    "a Response Topic with a wildcard",
    "30 0b 0003 612f62 05 080002612b",
    "PUBLISH properties hold an invalid Response Topic: topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1] [MQTT-3.3.2-14]"
  ],
  ["a Reason String that is not UTF-8", "40 09 0001 80 05 1f0002c328", "PUBACK Reason String is not well-formed UTF-8 [MQTT-1.5.4-1]"],
  [
    "a User Property name with U+0000",
    "40 0b 0001 80 07 26000100000161",
    "PUBACK User Property name contains the null character U+0000 [MQTT-1.5.4-2]"
  ],
  [
    "Authentication Data without Authentication Method",
    "10 11 0004 4d515454 05 02 0000 04 16000101 0000",
    "CONNECT with Authentication Data but no Authentication Method [MQTT-3.1.2.11.10]"
  ],
  // Reason codes [MQTT-2.4]
  ["PUBACK reason code 0x05", "40 03 0001 05", "PUBACK with reason code 0x05, not one of its reason codes [MQTT-3.4.2-1]"],
  ["PUBREC reason code 0x92", "50 03 0001 92", "PUBREC with reason code 0x92, not one of its reason codes [MQTT-3.5.2-1]"],
  ["PUBREL reason code 0x80", "62 03 0001 80", "PUBREL with reason code 0x80, not one of its reason codes [MQTT-3.6.2-1]"],
  ["PUBCOMP reason code 0x10", "70 03 0001 10", "PUBCOMP with reason code 0x10, not one of its reason codes [MQTT-3.7.2-1]"],
  ["CONNACK reason code 0x05 (a 3.1.1 return code)", "20 03 00 05 00", "CONNACK with reason code 0x05, not one of its reason codes [MQTT-3.2.2-8]"],
  ["SUBACK reason code 0x03", "90 05 0001 00 00 03", "SUBACK with reason code 0x03, not one of its reason codes [MQTT-3.9.3-2]"],
  ["UNSUBACK reason code 0x01", "b0 04 0001 00 01", "UNSUBACK with reason code 0x01, not one of its reason codes [MQTT-3.11.3-2]"],
  ["DISCONNECT reason code 0x01", "e0 01 01", "DISCONNECT with reason code 0x01, not one of its reason codes [MQTT-3.14.2-1]"],
  ["AUTH reason code 0x01", "f0 02 01 00", "AUTH with reason code 0x01, not one of its reason codes [MQTT-3.15.2-1]"],
  // CONNACK [MQTT-3.2]
  ["CONNACK with reserved acknowledge flags", "20 03 02 00 00", "CONNACK with reserved acknowledge flag bits set [MQTT-3.2.2-1]"],
  [
    "CONNACK with session present on a refusal",
    "20 03 01 87 00",
    "CONNACK with session present and reason code 0x87 [MQTT-3.2.2-6]"
  ],
  // SUBSCRIBE [MQTT-3.8]
  [
    "reserved bits in the subscription options",
    "82 07 0001 00 000123 40",
    "SUBSCRIBE with reserved bits set in the subscription options 0x40 [MQTT-3.8.3-5]"
  ],
  ["maximum QoS 3", "82 07 0001 00 000123 03", "SUBSCRIBE with maximum QoS 3 in the subscription options 0x03 [MQTT-3.8.3.1]"],
  ["Retain Handling 3", "82 07 0001 00 000123 30", "SUBSCRIBE with Retain Handling 3 in the subscription options 0x30 [MQTT-3.8.3.1]"],
  [
    "No Local on a shared subscription",
    "82 10 0001 00 000a 2473686172652f672f23 04",
    "SUBSCRIBE with No Local on a shared subscription [MQTT-3.8.3-4]"
  ],
  ["SUBSCRIBE without topic filters", "82 03 0001 00", "SUBSCRIBE without topic filters [MQTT-3.8.3-2]"],
  ["UNSUBSCRIBE without topic filters", "a2 03 0001 00", "UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]"],
  // CONNECT [MQTT-3.1]
  [
    "CONNECT at level 4 under version 5",
    "10 0c 0004 4d515454 04 02 0000 0000",
    "CONNECT with protocol name \"MQTT\" and level 4, expected \"MQTT\" level 5 [MQTT-3.1.2-1][MQTT-3.1.2-2]"
  ],
  ["CONNECT with will QoS 3", "10 0d 0004 4d515454 05 1e 0000 00 0000", "CONNECT with will QoS 3 [MQTT-3.1.2-12]"],
  ["CONNECT with will retain but no will flag", "10 0d 0004 4d515454 05 22 0000 00 0000", "CONNECT with will retain set but no will flag [MQTT-3.1.2-13]"],
  ["CONNECT with will QoS but no will flag", "10 0d 0004 4d515454 05 0a 0000 00 0000", "CONNECT with will QoS set but no will flag [MQTT-3.1.2-11]"],
  ["CONNECT with reserved flag bit 0", "10 0d 0004 4d515454 05 03 0000 00 0000", "CONNECT with reserved connect flag bit 0 set [MQTT-3.1.2-3]"],
  // PUBLISH [MQTT-3.3]
  ["PUBLISH with an empty topic and no Topic Alias", "30 03 0000 00", "PUBLISH with an empty topic name and no Topic Alias [MQTT-3.3.2.1]"],
  [
    "PUBLISH with a wildcard topic",
    "30 06 0003 612f23 00",
    "PUBLISH with invalid topic name: topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1] [MQTT-3.3.2-2]"
  ],
  ["PUBLISH with packet identifier 0", "32 08 0003 612f62 0000 00", "PUBLISH with packet identifier 0 [MQTT-2.2.1-3]"],
  ["PUBLISH topic that is not UTF-8", "30 05 0002 c328 00", "PUBLISH topic name is not well-formed UTF-8 [MQTT-1.5.4-1]"],
  // Short forms [MQTT-3.4.2-1][MQTT-3.14.2.1][MQTT-3.15.2.1]
  ["PUBACK with bytes after its properties", "40 05 0001 00 00 ff", "PUBACK has 1 bytes after its last field [MQTT-2.1.4]"],
  ["AUTH with a reason code but no Property Length", "f0 01 18", "AUTH property length runs past its end [MQTT-2.1.4]"],
  ["AUTH without an Authentication Method", "f0 02 18 00", "AUTH without an Authentication Method [MQTT-3.15.2.2.2]"],
  ["PINGREQ with a body", "c0 01 00", "PINGREQ with remaining length 1, expected 0 [MQTT-2.1.4]"]
]

describe("MQTT 5.0 strict decoding", () => {
  itRejects(rules, v5)

  it("AUTH is a packet of version 5 only: reserved packet type 15 under version 4 [MQTT-2.2.1]", () => {
    expect(decodePacket(hex("f0 00"), v5)).toEqual({ _tag: "Auth", reasonCode: 0 })
    expect(decodeError("f0 00")).toBe("reserved packet type 15 [MQTT-2.2.1]")
    const decoder = Decoder.make({ protocolVersion: 4 })
    expect((decoder.push(hex("f0 00")) as DecodeError).message).toBe("reserved packet type 15 [MQTT-2.2.1]")
  })

  it("a version 5 packet under version 4 is a version 4 error (a PUBACK with a reason code)", () => {
    expect(decodeError("40 03 0001 10")).toBe("PUBACK with remaining length 3, expected 2 [MQTT-2.2.3]")
  })

  it("repeats User Property and a PUBLISH's Subscription Identifier, which may repeat", () => {
    const result = decodePacket(hex("30 12 0003 612f62 0b 0b01 0b01 26000161000162 00"), v5)
    expect(result).toMatchObject({ properties: { subscriptionIdentifiers: [1, 1], userProperties: [["a", "b"]] } })
  })

  it("accepts 0x8C (Bad authentication method) in a DISCONNECT, as Table 2-6 lists it", () => {
    expect(decodePacket(hex("e0 01 8c"), v5)).toEqual({ _tag: "Disconnect", reasonCode: 0x8c })
  })

  it("does not check a payload that its Payload Format Indicator says is UTF-8 (the receiver's choice)", () => {
    expect(decodePacket(hex("30 09 0003 612f62 02 0101 ff"), v5)).toMatchObject({ payload: hex("ff"), properties: { payloadFormatIndicator: true } })
  })
})

describe("MQTT 5.0 packetError", () => {
  const invalid: ReadonlyArray<readonly [string, Packet<5>, string]> = [
    [
      "an empty topic without a Topic Alias",
      publish5({ topic: "" }),
      "PUBLISH with invalid topic name: topic name must be at least one character long [MQTT-4.7.3-1] [MQTT-3.3.2-2]"
    ],
    ["QoS 0 with a packet identifier", publish5({ packetId: 1 }), "PUBLISH with QoS 0 and a packet identifier [MQTT-2.2.1-2]"],
    ["QoS 1 without a packet identifier", publish5({ qos: 1 }), "PUBLISH with QoS 1 and no packet identifier [MQTT-2.2.1-3]"],
    [
      "a Response Topic with a wildcard",
      publish5({ properties: { responseTopic: "r/#" } }),
      "PUBLISH with an invalid Response Topic: topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1] [MQTT-3.3.2-14]"
    ],
    [
      "a Content Type with U+0000",
      publish5({ properties: { contentType: "a\u0000" } }),
      "PUBLISH Content Type contains the null character U+0000 [MQTT-1.5.3-2]"
    ],
    [
      "a User Property value with an unpaired surrogate",
      publish5({ properties: { userProperties: [["a", "\uD800"]] } }),
      "PUBLISH User Property value contains an unpaired surrogate (U+D800 at index 0), which is not well-formed UTF-8 [MQTT-1.5.3-1]"
    ],
    [
      "Correlation Data over 65535 bytes",
      publish5({ properties: { correlationData: new Uint8Array(65536) } }),
      "PUBLISH Correlation Data is longer than 65535 bytes [MQTT-1.5.6]"
    ],
    [
      "No Local on a shared subscription",
      {
        _tag: "Subscribe",
        packetId: 1,
        subscriptions: [{ filter: "$share/g/a", qos: 0, noLocal: true, retainAsPublished: false, retainHandling: 0 }]
      },
      "SUBSCRIBE with No Local on a shared subscription [MQTT-3.8.3-4]"
    ],
    ["an AUTH without Authentication Method", { _tag: "Auth", reasonCode: 0x18 }, "AUTH without an Authentication Method [MQTT-3.15.2.2.2]"],
    [
      "Authentication Data without Authentication Method",
      { _tag: "Connect", protocolLevel: 5, clientId: "c", cleanSession: true, keepAlive: 0, properties: { authenticationData: hex("00") } },
      "CONNECT with Authentication Data but no Authentication Method [MQTT-3.1.2.11.10]"
    ],
    [
      "a will property string with U+0000",
      {
        _tag: "Connect",
        protocolLevel: 5,
        clientId: "c",
        cleanSession: true,
        keepAlive: 0,
        will: { topic: "t", payload: hex(""), qos: 0, retain: false, properties: { contentType: "\u0000" } }
      },
      "CONNECT will Content Type contains the null character U+0000 [MQTT-1.5.3-2]"
    ],
    [
      "a refused CONNACK with a session",
      { _tag: "Connack", sessionPresent: true, reasonCode: 0x80 },
      "CONNACK with session present and reason code 0x80 [MQTT-3.2.2-6]"
    ]
  ]
  for (const [name, packet, message] of invalid) {
    it(`refuses to send ${name}`, () => expect(packetError(packet, 5)).toBe(message))
  }

  it("allows what MQTT 5.0 allows: an empty topic with a Topic Alias, a password without user name", () => {
    expect(packetError(publish5({ topic: "", properties: { topicAlias: 1 } }), 5)).toBeUndefined()
    expect(packetError({ _tag: "Connect", protocolLevel: 5, clientId: "", cleanSession: true, keepAlive: 0, password: hex("01") }, 5))
      .toBeUndefined()
  })
})
