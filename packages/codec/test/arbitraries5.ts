/**
 * fast-check arbitraries of valid MQTT 5.0 packets, in the canonical form the decoder produces:
 * `properties` absent when there are none, every reason code and subscription option explicit.
 * Properties are drawn from the table in `Properties.ts`, so every property of every carrier occurs.
 * Shared by the v5 property, fuzz and differential tests.
 */
import fc from "fast-check"
import {
  DecodeError,
  type Decoder,
  isSharedSubscription,
  type Packet,
  propertyTable,
  type PropertiesOf,
  type PropertyCarrier,
  type PropertyType,
  type ReasonCodeCarrier,
  type ReasonCodeOf,
  reasonCodesOf
} from "../src/index.ts"
import * as Arb from "./arbitraries.ts"

type Packet5 = Packet<5>
type Of<T extends Packet5["_tag"]> = Extract<Packet5, { readonly _tag: T }>

/** User property names drawn from a few, so that names repeat [MQTT-3.3.2-18]. */
const userPropertyName = fc.oneof(fc.constantFrom("a", "b", "key", "1"), Arb.mqttString(12))

const values: { readonly [T in PropertyType]: fc.Arbitrary<unknown> } = {
  boolean: fc.boolean(),
  maximumQoS: fc.constantFrom(0, 1),
  twoByte: fc.integer({ min: 0, max: 0xffff }),
  nonZeroTwoByte: fc.integer({ min: 1, max: 0xffff }),
  fourByte: fc.integer({ min: 0, max: 0xffff_ffff }),
  nonZeroFourByte: fc.integer({ min: 1, max: 0xffff_ffff }),
  subscriptionIdentifier: fc.integer({ min: 1, max: 268_435_455 }),
  subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 4 }),
  string: Arb.mqttString(30),
  topicName: Arb.topicName,
  binary: fc.uint8Array({ maxLength: 40 }),
  userProperties: fc.array(fc.tuple(userPropertyName, Arb.mqttString(20)), { minLength: 1, maxLength: 6 })
}

/** The properties of `carrier`: any subset of those the table allows, `undefined` for none. */
export const properties = <C extends PropertyCarrier>(carrier: C): fc.Arbitrary<PropertiesOf[C] | undefined> => {
  const fields: Record<string, fc.Arbitrary<unknown>> = {}
  for (const [key, p] of Object.entries(propertyTable)) {
    if ((p.carriers as ReadonlyArray<PropertyCarrier>).includes(carrier)) fields[key] = values[p.type]
  }
  return fc.option(fc.record(fields, { requiredKeys: [] }), { nil: undefined, freq: 3 }).map((props) =>
    // Drawn from the table for `carrier`, with the values of each property's type.
    props === undefined || Object.keys(props).length === 0 ? undefined : (props as PropertiesOf[C])
  )
}

/** `fields` plus `properties` when there are any. */
const withProperties = <A extends object, P>(fields: A, props: P | undefined): A | (A & { readonly properties: P }) =>
  props === undefined ? fields : { ...fields, properties: props }

const reasonCode = <C extends ReasonCodeCarrier>(carrier: C): fc.Arbitrary<ReasonCodeOf<C>> =>
  fc.constantFrom(...reasonCodesOf(carrier))

export const will: fc.Arbitrary<NonNullable<Of<"Connect">["will"]>> = fc.tuple(Arb.will, properties("Will"))
  .map(([w, props]) => withProperties(w, props))

export const connect: fc.Arbitrary<Of<"Connect">> = fc.tuple(
  Arb.connect,
  fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined }),
  fc.option(will, { nil: undefined }),
  properties("Connect")
).map(([c, password, w, props]): Of<"Connect"> => {
  const { password: _, will: __, protocolLevel: ___, ...rest } = c
  // Authentication Data needs an Authentication Method [MQTT-3.1.2.11.10].
  const fixed = props?.authenticationData !== undefined && props.authenticationMethod === undefined
    ? { ...props, authenticationMethod: "m" }
    : props
  // In MQTT 5.0 a password needs no user name.
  return withProperties({
    ...rest,
    protocolLevel: 5 as const,
    ...(w === undefined ? {} : { will: w }),
    ...(password === undefined ? {} : { password })
  }, fixed)
})

export const connack: fc.Arbitrary<Of<"Connack">> = fc.tuple(reasonCode("Connack"), fc.boolean(), properties("Connack"))
  // A refused connection has no session [MQTT-3.2.2-6].
  .map(([code, sp, props]) => withProperties({ _tag: "Connack" as const, sessionPresent: sp && code === 0, reasonCode: code }, props))

export const publish: fc.Arbitrary<Of<"Publish">> = fc.tuple(Arb.publish, properties("Publish"), fc.boolean())
  .map(([p, props, aliasOnly]) =>
    // An empty topic stands for a Topic Alias [MQTT-3.3.2.1].
    aliasOnly && props?.topicAlias !== undefined ? { ...p, topic: "", properties: props } : withProperties(p, props)
  )

const ack = <T extends "Puback" | "Pubrec" | "Pubrel" | "Pubcomp">(tag: T) =>
  fc.tuple(Arb.packetId, reasonCode(tag), properties(tag))
    .map(([packetId, code, props]) => withProperties({ _tag: tag, packetId, reasonCode: code }, props))

export const acks: fc.Arbitrary<Packet5> = fc.oneof(ack("Puback"), ack("Pubrec"), ack("Pubrel"), ack("Pubcomp"))

export const subscriptionRequest = fc.record({
  filter: Arb.topicFilter,
  qos: Arb.qos,
  noLocal: fc.boolean(),
  retainAsPublished: fc.boolean(),
  retainHandling: fc.constantFrom(0 as const, 1 as const, 2 as const)
}).map((s) => (s.noLocal && isSharedSubscription(s.filter) ? { ...s, noLocal: false } : s)) // [MQTT-3.8.3-4]

export const subscribe: fc.Arbitrary<Of<"Subscribe">> = fc.tuple(
  Arb.packetId,
  fc.array(subscriptionRequest, { minLength: 1, maxLength: 20 }),
  properties("Subscribe")
).map(([packetId, subscriptions, props]) => withProperties({ _tag: "Subscribe" as const, packetId, subscriptions }, props))

export const suback: fc.Arbitrary<Of<"Suback">> = fc.tuple(
  Arb.packetId,
  fc.array(reasonCode("Suback"), { minLength: 1, maxLength: 20 }),
  properties("Suback")
).map(([packetId, returnCodes, props]) => withProperties({ _tag: "Suback" as const, packetId, returnCodes }, props))

export const unsubscribe: fc.Arbitrary<Of<"Unsubscribe">> = fc.tuple(Arb.unsubscribe, properties("Unsubscribe"))
  .map(([u, props]) => withProperties(u, props))

export const unsuback: fc.Arbitrary<Of<"Unsuback">> = fc.tuple(
  Arb.packetId,
  fc.array(reasonCode("Unsuback"), { minLength: 1, maxLength: 20 }),
  properties("Unsuback")
).map(([packetId, reasonCodes, props]) => withProperties({ _tag: "Unsuback" as const, packetId, reasonCodes }, props))

export const disconnect: fc.Arbitrary<Of<"Disconnect">> = fc.tuple(reasonCode("Disconnect"), properties("Disconnect"))
  .map(([code, props]) => withProperties({ _tag: "Disconnect" as const, reasonCode: code }, props))

export const auth: fc.Arbitrary<Of<"Auth">> = fc.tuple(reasonCode("Auth"), properties("Auth"), Arb.mqttString(12))
  .map(([code, props, method]) =>
    // Every AUTH but the short form names its Authentication Method [MQTT-3.15.2.2.2].
    code === 0 && props === undefined
      ? { _tag: "Auth" as const, reasonCode: code }
      : { _tag: "Auth" as const, reasonCode: code, properties: { authenticationMethod: method, ...props } }
  )

export const empty: fc.Arbitrary<Packet5> = fc.constantFrom<Packet5>({ _tag: "Pingreq" }, { _tag: "Pingresp" })

/** Any valid MQTT 5.0 packet, weighted towards PUBLISH and acknowledgements as on a real connection. */
export const packet: fc.Arbitrary<Packet5> = fc.oneof(
  ...[publish, publish, publish, publish, acks, acks].map((arbitrary) => ({ weight: 1, arbitrary })),
  ...[connect, connack, subscribe, suback, unsubscribe, unsuback, disconnect, auth, empty].map((arbitrary) => ({ weight: 1, arbitrary }))
)

/** The packets `chunks` complete, pushed in order to `decoder`, or its error. */
export const pushAll = <V extends 4 | 5>(decoder: Decoder<V>, chunks: Iterable<Uint8Array>): Array<Packet<V>> | DecodeError => {
  const packets: Array<Packet<V>> = []
  for (const chunk of chunks) {
    const result = decoder.push(chunk)
    if (result instanceof DecodeError) return result
    packets.push(...result)
  }
  return packets
}

/** `bytes` cut into chunks whose sizes cycle through `sizes` (each at least 1). */
export function* chunks(bytes: Uint8Array, sizes: ReadonlyArray<number>): Generator<Uint8Array> {
  for (let pos = 0, i = 0; pos < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length] ?? 1)
    yield bytes.subarray(pos, pos + size)
    pos += size
  }
}

/** xorshift32 over a seed, as integers below `n`: the same inputs on every run. */
export const integers = (seed: number) => {
  let x = seed | 0 || 1
  return (n: number): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % n
  }
}

/** `bytes` with `remove` bytes at `at` replaced by `insert`. */
const splice = (bytes: Uint8Array, at: number, remove: number, insert: ReadonlyArray<number>): Uint8Array => {
  const out = Array.from(bytes)
  out.splice(at, remove, ...insert)
  return Uint8Array.from(out)
}

/** One to three edits: flip a bit, set a byte, cut the tail, insert a property-like run, drop a byte. */
export const mutate = (int: (n: number) => number, base: Uint8Array): Uint8Array => {
  let bytes = base
  for (let edits = 1 + int(3); edits > 0; edits--) {
    const at = int(bytes.length + 1)
    const op = int(5)
    if (op === 0 && at < bytes.length) bytes = splice(bytes, at, 1, [(bytes[at] as number) ^ (1 << int(8))])
    else if (op === 1 && at < bytes.length) bytes = splice(bytes, at, 1, [int(256)])
    else if (op === 2) bytes = bytes.subarray(0, at)
    else if (op === 3) bytes = splice(bytes, at, 0, [int(0x2c), ...Array.from({ length: int(5) }, () => int(256))])
    else if (at < bytes.length) bytes = splice(bytes, at, 1, [])
  }
  return bytes
}
