/**
 * fast-check arbitraries of valid packets, with realistic sizes: unicode topics up to ~100 chars,
 * payloads up to 8 KiB, many filters. Shared by the property, fuzz and differential tests.
 */
import fc from "fast-check"
import type {
  Connack,
  Connect,
  ConnectReturnCode,
  Packet,
  Publish,
  QoS,
  Suback,
  SubackReturnCode,
  Subscribe,
  Unsubscribe,
  Will
} from "../src/index.ts"

/** Bytes from a hex string; whitespace is ignored. */
export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))

/** Characters that can appear in a topic level: any code point but NUL, `+`, `#` and `/`. */
const levelChars = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: "grapheme-ascii", maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: "grapheme", maxLength })
  ).map((s) => s.replace(/[\u0000+#/]/g, "_"))

/** Any MQTT string: no NUL, no lone surrogate (the `binary` unit never makes one). */
export const mqttString = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ unit: "grapheme-ascii", maxLength }), fc.string({ unit: "binary", maxLength }))
    .map((s) => s.replace(/\u0000/g, "_"))

/** A valid topic name [MQTT-4.7]: non-empty, no wildcards, may hold empty levels. */
export const topicName: fc.Arbitrary<string> = fc.array(levelChars(20), { minLength: 1, maxLength: 6 })
  .map((levels) => levels.join("/"))
  .map((t) => (t.length === 0 ? "t" : t))

/** A valid topic filter [MQTT-4.7.1]: levels, `+` levels, optionally a final `#`. */
export const topicFilter: fc.Arbitrary<string> = fc.tuple(
  fc.array(fc.oneof(levelChars(16), fc.constant("+")), { minLength: 0, maxLength: 6 }),
  fc.boolean()
).map(([levels, hash]) => (hash ? [...levels, "#"] : levels).join("/"))
  .map((f) => (f.length === 0 ? "#" : f))

export const qos: fc.Arbitrary<QoS> = fc.constantFrom(0, 1, 2)
export const packetId: fc.Arbitrary<number> = fc.integer({ min: 1, max: 65535 })
export const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8192 }) }
)

export const will: fc.Arbitrary<Will> = fc.record({
  topic: topicName,
  payload: fc.uint8Array({ maxLength: 256 }),
  qos,
  retain: fc.boolean()
})

export const connect: fc.Arbitrary<Connect> = fc.record({
  protocolLevel: fc.constantFrom(3 as const, 4 as const),
  clientId: mqttString(23),
  cleanSession: fc.boolean(),
  keepAlive: fc.integer({ min: 0, max: 65535 }),
  username: fc.option(mqttString(30), { nil: undefined }),
  password: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  will: fc.option(will, { nil: undefined })
}).map(({ username, password, will, ...rest }): Connect => ({
  _tag: "Connect",
  ...rest,
  ...(username === undefined ? {} : { username }),
  // A password needs a user name [MQTT-3.1.2-22].
  ...(password === undefined || username === undefined ? {} : { password }),
  ...(will === undefined ? {} : { will })
}))

export const connack: fc.Arbitrary<Connack> = fc.constantFrom<ConnectReturnCode>(0, 1, 2, 3, 4, 5).chain((
  returnCode
) =>
  fc.boolean().map((sp): Connack => ({ _tag: "Connack", sessionPresent: sp && returnCode === 0, returnCode }))
)

export const publish: fc.Arbitrary<Publish> = fc.record({
  topic: topicName,
  payload,
  qos,
  retain: fc.boolean(),
  dup: fc.boolean(),
  packetId
}).map(({ packetId, qos, dup, ...rest }): Publish =>
  qos === 0 ? { _tag: "Publish", ...rest, qos, dup: false } : { _tag: "Publish", ...rest, qos, dup, packetId }
)

export const subscribe: fc.Arbitrary<Subscribe> = fc.record({
  packetId,
  subscriptions: fc.array(fc.record({ filter: topicFilter, qos }), { minLength: 1, maxLength: 40 })
}).map((r): Subscribe => ({ _tag: "Subscribe", ...r }))

export const suback: fc.Arbitrary<Suback> = fc.record({
  packetId,
  returnCodes: fc.array(fc.constantFrom<SubackReturnCode>(0, 1, 2, 0x80), { minLength: 1, maxLength: 40 })
}).map((r): Suback => ({ _tag: "Suback", ...r }))

export const unsubscribe: fc.Arbitrary<Unsubscribe> = fc.record({
  packetId,
  filters: fc.array(topicFilter, { minLength: 1, maxLength: 40 })
}).map((r): Unsubscribe => ({ _tag: "Unsubscribe", ...r }))

export const ack: fc.Arbitrary<Packet> = fc.tuple(
  fc.constantFrom("Puback" as const, "Pubrec" as const, "Pubrel" as const, "Pubcomp" as const, "Unsuback" as const),
  packetId
).map(([_tag, packetId]) => ({ _tag, packetId }))

export const empty: fc.Arbitrary<Packet> = fc.constantFrom<Packet>(
  { _tag: "Pingreq" },
  { _tag: "Pingresp" },
  { _tag: "Disconnect" }
)

/** Any valid packet, weighted towards PUBLISH as on a real connection. */
export const packet: fc.Arbitrary<Packet> = fc.oneof(
  { weight: 4, arbitrary: publish },
  { weight: 1, arbitrary: connect },
  { weight: 1, arbitrary: connack },
  { weight: 1, arbitrary: subscribe },
  { weight: 1, arbitrary: suback },
  { weight: 1, arbitrary: unsubscribe },
  { weight: 2, arbitrary: ack },
  { weight: 1, arbitrary: empty }
)

/** The bytes of `parts`, back to back. */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}
