/**
 * Every wire rule the decoder enforces, each with the exact `DecodeError` it produces.
 */
import { describe, expect, it } from "@effect/vitest"
import { DecodeError, decodePacket } from "../src/index.ts"
import { hex } from "./arbitraries.ts"
import { decodeError, itRejects, type Rule } from "./vectors.ts"

const PUBLISH_MSG = "PUBLISH with invalid topic name: "

const rules: ReadonlyArray<Rule> = [
  // Fixed header [MQTT-2.2]
  ["packet type 0", "00 00", "reserved packet type 0 [MQTT-2.2.1]"],
  ["packet type 15", "f0 00", "reserved packet type 15 [MQTT-2.2.1]"],
  ["PUBREL without flags 0b0010", "60 02 0001", "PUBREL with flags 0b0000, expected 0b0010 [MQTT-2.2.2-1]"],
  ["SUBSCRIBE without flags 0b0010", "80 06 0001 0001 23 00", "SUBSCRIBE with flags 0b0000, expected 0b0010 [MQTT-2.2.2-1]"],
  ["UNSUBSCRIBE with flags 0b0011", "a3 05 0001 0001 23", "UNSUBSCRIBE with flags 0b0011, expected 0b0010 [MQTT-2.2.2-1]"],
  ["PUBACK with flags", "41 02 0001", "PUBACK with flags 0b0001, expected 0b0000 [MQTT-2.2.2-1]"],
  ["CONNECT with flags", "12 0c 0004 4d515454 04 02 0000 0000", "CONNECT with flags 0b0010, expected 0b0000 [MQTT-2.2.2-1]"],
  ["PINGREQ with flags", "c8 00", "PINGREQ with flags 0b1000, expected 0b0000 [MQTT-2.2.2-1]"],
  [
    "remaining length longer than 4 bytes",
    "30 ff ff ff ff 01",
    "PUBLISH remaining length is longer than 4 bytes (max 268435455) [MQTT-2.2.3]"
  ],
  ["non-minimal remaining length 0x80 0x00", "c0 80 00", "PINGREQ remaining length is not minimally encoded [MQTT-2.2.3]"],
  ["non-minimal remaining length 0xff 0x80 0x00", "30 ff 80 00", "PUBLISH remaining length is not minimally encoded [MQTT-2.2.3]"],
  ["truncated remaining length", "30 80", "PUBLISH truncated inside its fixed header [MQTT-2.2.3]"],
  ["missing remaining length", "30", "PUBLISH truncated inside its fixed header [MQTT-2.2.3]"],
  ["empty input", "", "empty input, expected a packet [MQTT-2.2]"],
  ["packet shorter than its remaining length", "40 02 00", "PUBACK body of 1 bytes is shorter than its remaining length 2 [MQTT-2.2.3]"],
  ["packet longer than its remaining length", "40 02 0001 00", "PUBACK body of 3 bytes is longer than its remaining length 2 [MQTT-2.2.3]"],
  // PUBLISH [MQTT-3.3]
  ["PUBLISH with QoS 3", "36 07 0003 612f62 0001", "PUBLISH with QoS 3 [MQTT-3.3.1-4]"],
  ["PUBLISH with DUP at QoS 0", "38 05 0003 612f62", "PUBLISH with DUP set at QoS 0 [MQTT-3.3.1-2]"],
  ["PUBLISH with packet id 0", "32 07 0003 612f62 0000", "PUBLISH with packet identifier 0 [MQTT-2.3.1-1]"],
  ["PUBLISH topic past the end", "30 04 0005 6162", "PUBLISH topic name needs 5 bytes but only 2 remain [MQTT-2.2.3]"],
  ["PUBLISH without topic length", "30 01 00", "PUBLISH topic name length needs 2 bytes but only 1 remain [MQTT-2.2.3]"],
  ["PUBLISH QoS 1 without packet id", "32 05 0003 612f62", "PUBLISH packet identifier needs 2 bytes but only 0 remain [MQTT-2.2.3]"],
  ["PUBLISH topic with invalid UTF-8", "30 04 0002 c328", "PUBLISH topic name is not well-formed UTF-8 [MQTT-1.5.3-1]"],
  ["PUBLISH topic with a surrogate", "30 05 0003 eda080", "PUBLISH topic name is not well-formed UTF-8 [MQTT-1.5.3-1]"],
  ["PUBLISH topic with overlong NUL", "30 04 0002 c080", "PUBLISH topic name is not well-formed UTF-8 [MQTT-1.5.3-1]"],
  ["PUBLISH topic above U+10FFFF", "30 06 0004 f4908080", "PUBLISH topic name is not well-formed UTF-8 [MQTT-1.5.3-1]"],
  ["PUBLISH topic with truncated sequence", "30 04 0002 61e2", "PUBLISH topic name is not well-formed UTF-8 [MQTT-1.5.3-1]"],
  ["PUBLISH topic with U+0000", "30 05 0003 610062", "PUBLISH topic name contains the null character U+0000 [MQTT-1.5.3-2]"],
  ["PUBLISH non-ASCII topic with U+0000", "30 06 0004 c3a90062", "PUBLISH topic name contains the null character U+0000 [MQTT-1.5.3-2]"],
  [
    "PUBLISH topic with '+'",
    "30 05 0003 612f2b",
    `${PUBLISH_MSG}topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1] [MQTT-3.3.2-2]`
  ],
  [
    "PUBLISH topic with '#'",
    "32 07 0003 612f23 0001",
    `${PUBLISH_MSG}topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1] [MQTT-3.3.2-2]`
  ],
  [
    "PUBLISH with an empty topic",
    "30 02 0000",
    `${PUBLISH_MSG}topic name must be at least one character long [MQTT-4.7.3-1] [MQTT-3.3.2-2]`
  ],
  // Acknowledgements
  ["PUBACK with packet id 0", "40 02 0000", "PUBACK with packet identifier 0 [MQTT-2.3.1-1]"],
  ["PUBREC with remaining length 3", "50 03 000100", "PUBREC with remaining length 3, expected 2 [MQTT-2.2.3]"],
  ["PUBCOMP with remaining length 1", "70 01 00", "PUBCOMP with remaining length 1, expected 2 [MQTT-2.2.3]"],
  ["UNSUBACK with remaining length 0", "b0 00", "UNSUBACK with remaining length 0, expected 2 [MQTT-2.2.3]"],
  ["PINGREQ with a body", "c0 01 00", "PINGREQ with remaining length 1, expected 0 [MQTT-2.2.3]"],
  ["PINGRESP with a body", "d0 02 0000", "PINGRESP with remaining length 2, expected 0 [MQTT-2.2.3]"],
  ["DISCONNECT with a body", "e0 01 00", "DISCONNECT with remaining length 1, expected 0 [MQTT-2.2.3]"],
  // SUBSCRIBE, SUBACK, UNSUBSCRIBE
  ["SUBSCRIBE without payload", "82 02 0001", "SUBSCRIBE without topic filters [MQTT-3.8.3-3]"],
  ["SUBSCRIBE with packet id 0", "82 06 0000 0001 23 00", "SUBSCRIBE with packet identifier 0 [MQTT-2.3.1-1]"],
  [
    "SUBSCRIBE with an empty filter",
    "82 05 0001 0000 00",
    "SUBSCRIBE with invalid topic filter: topic filter must be at least one character long [MQTT-4.7.3-1]"
  ],
  [
    "SUBSCRIBE with a misplaced '#'",
    "82 07 0001 0002 2361 00",
    "SUBSCRIBE with invalid topic filter: the multi-level wildcard '#' must be the last character of the topic filter and alone in its level [MQTT-4.7.1-2]"
  ],
  ["SUBSCRIBE with requested QoS 3", "82 06 0001 0001 23 03", "SUBSCRIBE with invalid requested QoS byte 0x03 [MQTT-3.8.3-4]"],
  ["SUBSCRIBE with reserved QoS bits", "82 06 0001 0001 23 41", "SUBSCRIBE with invalid requested QoS byte 0x41 [MQTT-3.8.3-4]"],
  ["SUBSCRIBE without requested QoS", "82 05 0001 0001 23", "SUBSCRIBE requested QoS needs 1 bytes but only 0 remain [MQTT-2.2.3]"],
  ["SUBACK with return code 3", "90 03 0001 03", "SUBACK with reserved return code 0x03 [MQTT-3.9.3-2]"],
  ["SUBACK with return code 0x81", "90 04 0001 00 81", "SUBACK with reserved return code 0x81 [MQTT-3.9.3-2]"],
  ["SUBACK without packet id", "90 01 00", "SUBACK packet identifier needs 2 bytes but only 1 remain [MQTT-2.2.3]"],
  ["UNSUBSCRIBE without payload", "a2 02 0001", "UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]"],
  [
    "UNSUBSCRIBE with a misplaced '+'",
    "a2 06 0001 0002 612b",
    "UNSUBSCRIBE with invalid topic filter: the single-level wildcard '+' must occupy an entire level of the topic filter [MQTT-4.7.1-3]"
  ],
  // CONNECT [MQTT-3.1]
  [
    "CONNECT \"MQTT\" with level 3",
    "10 0c 0004 4d515454 03 02 0000 0000",
    "CONNECT with protocol name \"MQTT\" and level 3, expected \"MQTT\" level 4 or \"MQIsdp\" level 3 [MQTT-3.1.2-1][MQTT-3.1.2-2]"
  ],
  [
    "CONNECT with level 5",
    "10 0c 0004 4d515454 05 02 0000 0000",
    "CONNECT with protocol name \"MQTT\" and level 5, expected \"MQTT\" level 4 or \"MQIsdp\" level 3 [MQTT-3.1.2-1][MQTT-3.1.2-2]"
  ],
  [
    "CONNECT with an unknown protocol name",
    "10 0c 0004 4d515458 04 02 0000 0000",
    "CONNECT with protocol name \"MQTX\" and level 4, expected \"MQTT\" level 4 or \"MQIsdp\" level 3 [MQTT-3.1.2-1][MQTT-3.1.2-2]"
  ],
  ["CONNECT with reserved flag bit 0", "10 0c 0004 4d515454 04 03 0000 0000", "CONNECT with reserved connect flag bit 0 set [MQTT-3.1.2-3]"],
  [
    "CONNECT with a password but no user name",
    "10 10 0004 4d515454 04 42 0000 0000 0002 7077",
    "CONNECT with a password but no user name [MQTT-3.1.2-22]"
  ],
  [
    "CONNECT with will QoS but no will flag",
    "10 0c 0004 4d515454 04 0a 0000 0000",
    "CONNECT with will QoS set but no will flag [MQTT-3.1.2-11][MQTT-3.1.2-13]"
  ],
  [
    "CONNECT with will retain but no will flag",
    "10 0c 0004 4d515454 04 22 0000 0000",
    "CONNECT with will retain set but no will flag [MQTT-3.1.2-11][MQTT-3.1.2-15]"
  ],
  ["CONNECT with will QoS 3", "10 11 0004 4d515454 04 1e 0000 0000 0001 74 0000", "CONNECT with will QoS 3 [MQTT-3.1.2-14]"],
  [
    "CONNECT with a wildcard will topic",
    "10 11 0004 4d515454 04 06 0000 0000 0001 23 0000",
    "CONNECT with invalid will topic: topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1]"
  ],
  ["CONNECT with trailing bytes", "10 0d 0004 4d515454 04 02 0000 0000 00", "CONNECT has 1 bytes after its last field [MQTT-2.2.3]"],
  [
    "CONNECT with user name flag but no user name",
    "10 0c 0004 4d515454 04 82 0000 0000",
    "CONNECT user name length needs 2 bytes but only 0 remain [MQTT-2.2.3]"
  ],
  [
    "CONNECT with an invalid UTF-8 client id",
    "10 0d 0004 4d515454 04 02 0000 0001 ff",
    "CONNECT client identifier is not well-formed UTF-8 [MQTT-1.5.3-1]"
  ],
  // CONNACK [MQTT-3.2]
  ["CONNACK with remaining length 3", "20 03 000000", "CONNACK with remaining length 3, expected 2 [MQTT-3.2.1]"],
  ["CONNACK with reserved ack flags", "20 02 02 00", "CONNACK with reserved acknowledge flag bits set [MQTT-3.2.2.1]"],
  ["CONNACK with return code 6", "20 02 00 06", "CONNACK with reserved return code 6 [MQTT-3.2.2.3]"],
  [
    "CONNACK with session present on a refusal",
    "20 02 01 05",
    "CONNACK with session present and non-zero return code 5 [MQTT-3.2.2-4]"
  ]
]

describe("strict decoding", () => {
  itRejects(rules)

  it("reports the packet type when it was read", () => {
    const result = decodePacket(hex("36 07 0003 612f62 0001"))
    expect(result).toBeInstanceOf(DecodeError)
    expect((result as DecodeError).packetType).toBe(3)
    const empty = decodePacket(new Uint8Array(0))
    expect((empty as DecodeError).packetType).toBeUndefined()
  })

  it("rejects a packet larger than maxPacketSize", () => {
    const bytes = hex("30 07 0003 612f62 6869")
    expect(decodePacket(bytes, { maxPacketSize: 9 })).toMatchObject({ _tag: "Publish" })
    expect(decodeError(bytes, { maxPacketSize: 8 })).toBe("PUBLISH of 9 bytes exceeds maxPacketSize 8")
  })

  it("checks maxPacketSize against the declared size before the body arrives", () => {
    // Declares the largest remaining length, 268,435,455 (ff ff ff 7f), with no body at all.
    expect(decodeError("30 ff ff ff 7f")).toBe("PUBLISH body of 0 bytes is shorter than its remaining length 268435455 [MQTT-2.2.3]")
    expect(decodeError("30 ff ff ff 7f", { maxPacketSize: 1 << 20 })).toBe("PUBLISH of 268435460 bytes exceeds maxPacketSize 1048576")
  })
})
