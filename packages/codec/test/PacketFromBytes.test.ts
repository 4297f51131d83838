/**
 * `PacketFromBytes`: strict decoding through Schema, and validation of the wire rules on encode.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { encode, PacketFromBytes, packetError } from "../src/index.ts"
import type { Packet } from "../src/index.ts"
import * as Arb from "./arbitraries.ts"
import { hex } from "./arbitraries.ts"
import { publish } from "./vectors.ts"

const decodeBytes = Schema.decodeUnknownEffect(PacketFromBytes)
const encodePacket = Schema.encodeUnknownEffect(PacketFromBytes)

describe("PacketFromBytes", () => {
  it.effect("decodes bytes to a packet", () =>
    Effect.gen(function*() {
      expect(yield* decodeBytes(hex("c0 00"))).toEqual({ _tag: "Pingreq" })
      expect(yield* decodeBytes(hex("30 07 0003 612f62 6869"))).toEqual(publish({ payload: hex("6869") }))
    }))

  it.effect("fails with the decoder's message", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decodeBytes(hex("36 00")))
      expect(error._tag).toBe("SchemaError")
      expect(error.message).toBe("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
      const notBytes = yield* Effect.flip(decodeBytes("c000"))
      expect(notBytes.message).toBe("Expected Uint8Array")
    }))

  it.effect("encodes a valid packet", () =>
    Effect.gen(function*() {
      expect(yield* encodePacket({ _tag: "Pingreq" })).toEqual(hex("c0 00"))
      expect(yield* encodePacket(publish({ qos: 1, packetId: 10, dup: true, payload: hex("6869") }))).toEqual(
        hex("3a 09 0003 612f62 000a 6869")
      )
    }))

  it.effect("rejects what the Packet schema rejects", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(encodePacket({ ...publish({}), qos: 3 }))
      expect(error.message).toBe("Expected 0 | 1 | 2\n  at [\"qos\"]")
      const id = yield* Effect.flip(encodePacket({ _tag: "Puback", packetId: 0 }))
      expect(id._tag).toBe("SchemaError")
    }))

  const invalid: ReadonlyArray<readonly [string, Packet, string]> = [
    ["QoS 0 with a packet id", publish({ packetId: 3 }), "PUBLISH with QoS 0 and a packet identifier [MQTT-2.3.1-5]"],
    ["QoS 1 without a packet id", publish({ qos: 1 }), "PUBLISH with QoS 1 and no packet identifier [MQTT-2.3.1-1]"],
    ["DUP at QoS 0", publish({ dup: true }), "PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]"],
    [
      "a wildcard topic",
      publish({ topic: "a/#" }),
      "PUBLISH with invalid topic name: topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1] [MQTT-3.3.2-2]"
    ],
    [
      "an empty topic",
      publish({ topic: "" }),
      "PUBLISH with invalid topic name: topic name must be at least one character long [MQTT-4.7.3-1] [MQTT-3.3.2-2]"
    ],
    [
      "a lone surrogate",
      publish({ topic: "a\uD800" }),
      "PUBLISH topic name contains an unpaired surrogate (U+D800 at index 1), which is not well-formed UTF-8 [MQTT-1.5.3-1]"
    ],
    ["U+0000", publish({ topic: "a\u0000" }), "PUBLISH topic name contains the null character U+0000 [MQTT-1.5.3-2]"],
    [
      "a topic over 65535 bytes",
      publish({ topic: "é".repeat(40000) }),
      "PUBLISH topic name is longer than 65535 bytes in UTF-8 [MQTT-1.5.3]"
    ],
    [
      "a password without user name",
      { _tag: "Connect", protocolLevel: 4, clientId: "c", cleanSession: true, keepAlive: 0, password: hex("00") },
      "CONNECT with a password but no user name [MQTT-3.1.2-22]"
    ],
    [
      "a wildcard will topic",
      {
        _tag: "Connect",
        protocolLevel: 4,
        clientId: "c",
        cleanSession: true,
        keepAlive: 0,
        will: { topic: "+", payload: hex(""), qos: 0, retain: false }
      },
      "CONNECT with invalid will topic: topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1]"
    ],
    [
      "a client id with U+0000",
      { _tag: "Connect", protocolLevel: 4, clientId: "\u0000", cleanSession: true, keepAlive: 0 },
      "CONNECT client identifier contains the null character U+0000 [MQTT-1.5.3-2]"
    ],
    [
      "a will message over 65535 bytes",
      {
        _tag: "Connect",
        protocolLevel: 4,
        clientId: "c",
        cleanSession: true,
        keepAlive: 0,
        will: { topic: "t", payload: new Uint8Array(65536), qos: 0, retain: false }
      },
      "CONNECT will message is longer than 65535 bytes [MQTT-1.5.3]"
    ],
    [
      "a session on a refused connection",
      { _tag: "Connack", sessionPresent: true, returnCode: 4 },
      "CONNACK with session present and non-zero return code 4 [MQTT-3.2.2-4]"
    ],
    [
      "an empty filter",
      { _tag: "Subscribe", packetId: 1, subscriptions: [{ filter: "a", qos: 0 }, { filter: "", qos: 1 }] },
      "SUBSCRIBE with invalid topic filter: topic filter must be at least one character long [MQTT-4.7.3-1]"
    ],
    [
      "a misplaced '#'",
      { _tag: "Unsubscribe", packetId: 1, filters: ["a/#/b"] },
      "UNSUBSCRIBE with invalid topic filter: the multi-level wildcard '#' must be the last character of the topic filter and alone in its level [MQTT-4.7.1-2]"
    ]
  ]
  for (const [name, packet, message] of invalid) {
    it.effect(`refuses to encode ${name}`, () =>
      Effect.gen(function*() {
        expect(packetError(packet)).toBe(message)
        const error = yield* Effect.flip(encodePacket(packet))
        expect(error.message).toBe(message)
      }))
  }

  it("refuses a packet over the maximum remaining length [MQTT-2.2.3]", () => {
    // A view claiming 256 MiB of payload, without allocating it: only its length is read.
    const payload = new Uint8Array(1).subarray(0, 1)
    Object.defineProperty(payload, "length", { value: 268_435_455 })
    expect(packetError(publish({ payload }))).toBe(
      "packet of 268435465 bytes exceeds the maximum remaining length 268435455 [MQTT-2.2.3]"
    )
  })

  it("round-trips arbitrary valid packets through the schema", async () => {
    await fc.assert(
      fc.asyncProperty(Arb.packet, async (p) => {
        const bytes = await Effect.runPromise(Schema.encodeEffect(PacketFromBytes)(p))
        expect(bytes).toEqual(encode(p))
        expect(await Effect.runPromise(Schema.decodeUnknownEffect(PacketFromBytes)(bytes))).toEqual(p)
      }),
      { numRuns: 200 }
    )
  })
})
