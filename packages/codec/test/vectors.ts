/**
 * Helpers of the hand-written vector tests (golden, strict, PacketFromBytes): UTF-8 text, a PUBLISH to build
 * vectors from, and the `DecodeError` that bytes breaking a wire rule decode to.
 */
import { assert, expect, it } from "@effect/vitest"
import { DecodeError, type DecodeOptions, decodePacket, type Packet, type ProtocolVersion, type Publish } from "../src/index.ts"
import { hex } from "./arbitraries.ts"

/** The UTF-8 bytes of `s`. */
export const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** The fields of an empty QoS 0 PUBLISH to a/b, the same in MQTT 3.1.1 and 5.0. */
const emptyPublish = () => ({ _tag: "Publish", topic: "a/b", payload: new Uint8Array(0), qos: 0, retain: false, dup: false }) as const

/** A PUBLISH of MQTT 3.1.1 to a/b at QoS 0, empty, with `fields`. */
export const publish = (fields: Partial<Publish>): Publish => ({ ...emptyPublish(), ...fields })

/** A PUBLISH of MQTT 5.0 to a/b at QoS 0, empty, with `fields`. */
export const publish5 = (fields: Partial<Packet<5> & { _tag: "Publish" }>): Packet<5> => ({ ...emptyPublish(), ...fields })

/** The message of the `DecodeError` that `bytes` (hex, or bytes) decode to; the test fails if they decode to a packet. */
export const decodeError = (bytes: string | Uint8Array, options?: DecodeOptions<ProtocolVersion>): string => {
  const result = decodePacket(typeof bytes === "string" ? hex(bytes) : bytes, options)
  assert.instanceOf(result, DecodeError)
  return result.message
}

/** A wire rule the decoder enforces: what breaks it, bytes (hex) that do, and the exact message of their `DecodeError`. */
export type Rule = readonly [name: string, bytes: string, message: string]

/** One test per rule, named as the rule: its bytes decode (with `options`) to a `DecodeError` with exactly its message. */
export const itRejects = (rules: ReadonlyArray<Rule>, options?: DecodeOptions<ProtocolVersion>): void => {
  for (const [name, bytes, message] of rules) {
    it(name, () => expect(decodeError(bytes, options)).toBe(message))
  }
}
