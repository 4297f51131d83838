/**
 * MQTT 5.0 golden byte vectors, written by hand from the standard (the non-normative examples of
 * Figures 1-2, 3-6, 3-9, 3-19, 3-21 and 3-24 where it has them, the packet layouts of chapter 3
 * elsewhere), every packet with and without properties, checked in both directions: `encode` gives
 * the bytes and `decodePacket` the packet. Properties are written in identifier order.
 */
import { describe, expect, it } from "@effect/vitest"
import { decodePacket, encode, encodedLength } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import { hex } from "./arbitraries.ts"
import { publish5, text } from "./vectors.ts"

const v5 = { protocolVersion: 5 } as const

const vectors: ReadonlyArray<readonly [string, Packet<5>, string]> = [
  // CONNECT [MQTT-3.1]
  [
    "CONNECT of Figure 3-6 (flags 0xCE, keep alive 10, Session Expiry Interval 10) with its payload",
    {
      _tag: "Connect",
      protocolLevel: 5,
      clientId: "cid",
      cleanSession: true,
      keepAlive: 10,
      username: "u",
      password: text("pw"),
      will: { topic: "w/t", payload: text("bye"), qos: 1, retain: false },
      properties: { sessionExpiryInterval: 10 }
    },
    // variable header; payload: client id, will properties (none), will topic, will payload, user name, password
    "10 27 0004 4d515454 05 ce 000a 05 11 0000000a  0003 636964 00 0003 772f74 0003 627965 0001 75 0002 7077"
  ],
  [
    "minimal CONNECT, no properties",
    { _tag: "Connect", protocolLevel: 5, clientId: "", cleanSession: true, keepAlive: 0 },
    "10 0d 0004 4d515454 05 02 0000 00 0000"
  ],
  [
    "CONNECT with properties, will properties, and a password without user name",
    {
      _tag: "Connect",
      protocolLevel: 5,
      clientId: "c",
      cleanSession: true,
      keepAlive: 60,
      password: hex("01"),
      will: {
        topic: "w",
        payload: new Uint8Array(0),
        qos: 0,
        retain: false,
        properties: {
          payloadFormatIndicator: true,
          contentType: "t",
          responseTopic: "r",
          correlationData: hex("0102"),
          willDelayInterval: 5
        }
      },
      properties: {
        requestProblemInformation: false,
        requestResponseInformation: true,
        receiveMaximum: 20,
        topicAliasMaximum: 10,
        userProperties: [["a", "1"]],
        maximumPacketSize: 1024
      }
    },
    // flags 0x46: password, will, clean start; properties 0x17 0x19 0x21 0x22 0x26 0x27; will properties
    // 0x01 0x03 0x08 0x09 0x18
    "10 41 0004 4d515454 05 46 003c 16 1700 1901 210014 22000a 26000161000131 2700000400" +
    " 0001 63 14 0101 03000174 08000172 0900020102 1800000005 0001 77 0000 0001 01"
  ],
  // CONNACK [MQTT-3.2]
  ["CONNACK Success, no properties", { _tag: "Connack", sessionPresent: false, reasonCode: 0 }, "20 03 00 00 00"],
  ["CONNACK Not authorized", { _tag: "Connack", sessionPresent: false, reasonCode: 0x87 }, "20 03 00 87 00"],
  [
    "CONNACK with session present and the server's properties",
    {
      _tag: "Connack",
      sessionPresent: true,
      reasonCode: 0,
      properties: {
        assignedClientIdentifier: "id",
        serverKeepAlive: 30,
        reasonString: "ok",
        receiveMaximum: 10,
        topicAliasMaximum: 5,
        maximumQoS: 1,
        retainAvailable: false,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: true
      }
    },
    "20 20 01 00 1d 12 0002 6964 13 001e 1f 0002 6f6b 21 000a 22 0005 24 01 25 00 28 01 29 00 2a 01"
  ],
  // PUBLISH [MQTT-3.3]
  [
    "PUBLISH of Figure 3-9 (a/b, packet identifier 10, no properties) at QoS 1",
    { _tag: "Publish", topic: "a/b", payload: text("hi"), qos: 1, retain: false, dup: false, packetId: 10 },
    "32 0a 0003 612f62 000a 00 6869"
  ],
  [
    "PUBLISH QoS 0, no properties, empty payload",
    publish5({}),
    "30 06 0003 612f62 00"
  ],
  [
    "PUBLISH retained with every PUBLISH property, two Subscription Identifiers and a repeated User Property name",
    {
      _tag: "Publish",
      topic: "a/b",
      payload: text("hi"),
      qos: 0,
      retain: true,
      dup: false,
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 60,
        contentType: "t",
        responseTopic: "r/1",
        correlationData: text("x"),
        subscriptionIdentifiers: [1, 268_435_455],
        topicAlias: 2,
        userProperties: [["k", "v"], ["k", "w"]]
      }
    },
    "31 35 0003 612f62 2d 0101 020000003c 03000174 080003722f31 09000178 0b01 0bffffff7f 230002" +
    " 2600016b000176 2600016b000177 6869"
  ],
  [
    "PUBLISH with an empty topic name and a Topic Alias",
    publish5({ topic: "", properties: { topicAlias: 5 } }),
    "30 06 0000 03 230005"
  ],
  [
    "PUBLISH whose topic is the UTF-8 string of Figure 1-2, \"A\\u{2A6D4}\"",
    publish5({ topic: "A\u{2A6D4}" }),
    "30 08 0005 41f0aa9b94 00"
  ],
  // PUBACK, PUBREC, PUBREL, PUBCOMP [MQTT-3.4] to [MQTT-3.7]: the three forms
  ["PUBACK Success (remaining length 2)", { _tag: "Puback", packetId: 10, reasonCode: 0 }, "40 02 000a"],
  ["PUBACK No matching subscribers (remaining length 3)", { _tag: "Puback", packetId: 10, reasonCode: 0x10 }, "40 03 000a 10"],
  [
    "PUBACK Unspecified error with a Reason String",
    { _tag: "Puback", packetId: 10, reasonCode: 0x80, properties: { reasonString: "nop" } },
    "40 0a 000a 80 06 1f00036e6f70"
  ],
  ["PUBREC Success", { _tag: "Pubrec", packetId: 1, reasonCode: 0 }, "50 02 0001"],
  ["PUBREC Packet Identifier in use", { _tag: "Pubrec", packetId: 1, reasonCode: 0x91 }, "50 03 0001 91"],
  [
    "PUBREC Success with a User Property",
    { _tag: "Pubrec", packetId: 1, reasonCode: 0, properties: { userProperties: [["a", "b"]] } },
    "50 0b 0001 00 07 26000161000162"
  ],
  ["PUBREL Success (flags 0b0010)", { _tag: "Pubrel", packetId: 7, reasonCode: 0 }, "62 02 0007"],
  ["PUBREL Packet Identifier not found", { _tag: "Pubrel", packetId: 7, reasonCode: 0x92 }, "62 03 0007 92"],
  [
    "PUBREL with a Reason String",
    { _tag: "Pubrel", packetId: 7, reasonCode: 0x92, properties: { reasonString: "x" } },
    "62 08 0007 92 04 1f000178"
  ],
  ["PUBCOMP Success", { _tag: "Pubcomp", packetId: 7, reasonCode: 0 }, "70 02 0007"],
  ["PUBCOMP Packet Identifier not found", { _tag: "Pubcomp", packetId: 7, reasonCode: 0x92 }, "70 03 0007 92"],
  [
    "PUBCOMP Success with a Reason String",
    { _tag: "Pubcomp", packetId: 7, reasonCode: 0, properties: { reasonString: "x" } },
    "70 08 0007 00 04 1f000178"
  ],
  // SUBSCRIBE [MQTT-3.8]
  [
    "SUBSCRIBE of Figures 3-19 and 3-21 (packet identifier 10, a/b at QoS 1, c/d at QoS 2)",
    {
      _tag: "Subscribe",
      packetId: 10,
      subscriptions: [
        { filter: "a/b", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { filter: "c/d", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }
      ]
    },
    "82 0f 000a 00 0003 612f62 01 0003 632f64 02"
  ],
  [
    "SUBSCRIBE with a Subscription Identifier, a User Property and every subscription option",
    {
      _tag: "Subscribe",
      packetId: 1,
      subscriptions: [
        { filter: "x/#", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { filter: "$share/g/y", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 }
      ],
      properties: { subscriptionIdentifier: 5, userProperties: [["a", "b"]] }
    },
    // options 0x2e: Retain Handling 2, Retain As Published, No Local, QoS 2; 0x10: Retain Handling 1
    "82 1f 0001 09 0b05 26000161000162 0003 782f23 2e 000a 2473686172652f672f79 10"
  ],
  // SUBACK [MQTT-3.9]
  [
    "SUBACK with granted QoS and a refusal",
    { _tag: "Suback", packetId: 10, returnCodes: [1, 2, 0x87] },
    "90 06 000a 00 01 02 87"
  ],
  [
    "SUBACK with a Reason String",
    { _tag: "Suback", packetId: 10, returnCodes: [0, 0xa2], properties: { reasonString: "no" } },
    "90 0a 000a 05 1f00026e6f 00 a2"
  ],
  // UNSUBSCRIBE [MQTT-3.10], UNSUBACK [MQTT-3.11]
  ["UNSUBSCRIBE", { _tag: "Unsubscribe", packetId: 11, filters: ["a/b", "#"] }, "a2 0b 000b 00 0003 612f62 0001 23"],
  [
    "UNSUBSCRIBE with a User Property",
    { _tag: "Unsubscribe", packetId: 11, filters: ["#"], properties: { userProperties: [["a", "b"]] } },
    "a2 0d 000b 07 26000161000162 0001 23"
  ],
  ["UNSUBACK", { _tag: "Unsuback", packetId: 11, reasonCodes: [0, 0x11] }, "b0 05 000b 00 00 11"],
  [
    "UNSUBACK with a Reason String",
    { _tag: "Unsuback", packetId: 11, reasonCodes: [0x87], properties: { reasonString: "x" } },
    "b0 08 000b 04 1f000178 87"
  ],
  // PINGREQ, PINGRESP [MQTT-3.12][MQTT-3.13]
  ["PINGREQ", { _tag: "Pingreq" }, "c0 00"],
  ["PINGRESP", { _tag: "Pingresp" }, "d0 00"],
  // DISCONNECT [MQTT-3.14]
  ["DISCONNECT Normal disconnection (remaining length 0)", { _tag: "Disconnect", reasonCode: 0 }, "e0 00"],
  ["DISCONNECT with Will Message (remaining length 1)", { _tag: "Disconnect", reasonCode: 4 }, "e0 01 04"],
  [
    "DISCONNECT of Figure 3-24 (Session Expiry Interval 0)",
    { _tag: "Disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0 } },
    "e0 07 00 05 11 00000000"
  ],
  [
    "DISCONNECT Use another server, with a Server Reference",
    { _tag: "Disconnect", reasonCode: 0x9c, properties: { serverReference: "other" } },
    "e0 0a 9c 08 1c 0005 6f74686572"
  ],
  // AUTH [MQTT-3.15]
  ["AUTH Success (remaining length 0)", { _tag: "Auth", reasonCode: 0 }, "f0 00"],
  [
    "AUTH Continue authentication, with method and data",
    { _tag: "Auth", reasonCode: 0x18, properties: { authenticationMethod: "SCRAM", authenticationData: hex("09") } },
    "f0 0e 18 0c 150005534352414d 16000109"
  ],
  [
    "AUTH Re-authenticate",
    { _tag: "Auth", reasonCode: 0x19, properties: { authenticationMethod: "SCRAM" } },
    "f0 0a 19 08 150005534352414d"
  ]
]

/** Forms the encoder does not write (it writes the shortest), which decode all the same. */
const decodeOnly: ReadonlyArray<readonly [string, string, Packet<5>]> = [
  ["PUBACK with a reason code and a Property Length of 0", "40 04 000a 10 00", { _tag: "Puback", packetId: 10, reasonCode: 0x10 }],
  ["PUBCOMP Success in the long form", "70 04 0007 00 00", { _tag: "Pubcomp", packetId: 7, reasonCode: 0 }],
  ["DISCONNECT Normal disconnection in the long form", "e0 02 00 00", { _tag: "Disconnect", reasonCode: 0 }],
  ["AUTH Success with a Property Length of 0", "f0 02 00 00", { _tag: "Auth", reasonCode: 0 }],
  [
    "CONNACK with properties out of identifier order (their order has no significance [MQTT-2.2.2.2])",
    "20 09 00 00 06 2a01 2400 2501",
    { _tag: "Connack", sessionPresent: false, reasonCode: 0, properties: { sharedSubscriptionAvailable: true, maximumQoS: 0, retainAvailable: true } }
  ],
  [
    "PUBLISH with User Properties between other properties, kept in wire order [MQTT-3.3.2-18]",
    "30 19 0003 612f62 13 260001620001 31 230001 260001610001 32 0b05",
    publish5({ properties: { userProperties: [["b", "1"], ["a", "2"]], topicAlias: 1, subscriptionIdentifiers: [5] } })
  ]
]

describe("MQTT 5.0 golden vectors", () => {
  // Both directions in one test per vector: the bytes, their length, and the packet they decode to.
  it.each(vectors)("%s", (_, packet, bytes) => {
    const expected = hex(bytes)
    expect([encode(packet, v5), encodedLength(packet, v5), decodePacket(expected, v5)]).toEqual([expected, expected.length, packet])
  })
  it.each(decodeOnly)("decodes %s, which re-encodes in the short form", (_, bytes, packet) => {
    expect(decodePacket(hex(bytes), v5)).toEqual(packet)
    expect(decodePacket(encode(packet, v5), v5)).toEqual(packet)
  })

  it("every packet type has a vector, with and without properties", () => {
    const tags = new Set(vectors.map(([, p]) => p._tag))
    expect(tags.size).toBe(15)
    const withProperties = new Set(vectors.filter(([, p]) => "properties" in p).map(([, p]) => p._tag))
    // PINGREQ and PINGRESP have no properties.
    expect([...tags].filter((t) => !withProperties.has(t)).sort()).toEqual(["Pingreq", "Pingresp"])
  })

  it("keeps User Property order and repeated names as on the wire [MQTT-3.3.2-18]", () => {
    const userProperties: ReadonlyArray<readonly [string, string]> = [["z", "1"], ["a", "2"], ["z", "3"], ["1", "4"], ["a", "5"]]
    const packet: Packet<5> = { _tag: "Puback", packetId: 1, reasonCode: 0, properties: { userProperties } }
    expect(decodePacket(encode(packet, v5), v5)).toEqual(packet)
  })

  it("decodes binary properties as views of the input, not copies", () => {
    const bytes = hex("f0 0e 18 0c 150005534352414d 16000109")
    const packet = decodePacket(bytes, v5)
    expect(packet._tag === "Auth" && packet.properties?.authenticationData?.buffer === bytes.buffer).toBe(true)
  })
})
