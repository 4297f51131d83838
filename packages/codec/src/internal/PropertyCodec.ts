/**
 * Reading, sizing and writing a block of MQTT 5.0 properties [MQTT-2.2.2]: a Property Length, then
 * each property as an identifier and a value, driven by the table in `Properties.ts`. A packet's
 * `properties` field is absent when the block is empty; properties are written in identifier order.
 *
 * @since 0.3.0
 */
import { DecodeError } from "../DecodeError.ts"
import { mqttStringError, utf8Length } from "../MqttString.ts"
import { propertyTable } from "../Properties.ts"
import type { PropertiesOf, PropertyCarrier, PropertyType } from "../Properties.ts"
import { topicNameError, topicNameShapeError } from "../Topic.ts"
import type { Reader } from "./Reader.ts"
import { rulesOf } from "./rules.ts"
import { binaryError } from "./senderRules.ts"
import { varintSize, writeVarint } from "./varint.ts"
import { writeBinary, writeString, writeU16, writeU32 } from "./Writer.ts"

interface Entry {
  readonly key: string
  readonly id: number
  readonly name: string
  readonly type: PropertyType
  readonly rule: string | undefined
}

interface Carrier {
  /** Where the block is, in messages: "properties" or "will properties". */
  readonly label: string
  /** Who holds the block, in messages: "a PUBLISH", "a will". */
  readonly holder: string
  /** The properties section of the carrier, cited for the rules it states per property. */
  readonly section: string
  /** Its properties in identifier order, for writing. */
  readonly entries: ReadonlyArray<Entry>
  /** Its properties by identifier, for reading. */
  readonly byId: ReadonlyArray<Entry | undefined>
}

const all: ReadonlyArray<Entry & { readonly carriers: ReadonlyArray<PropertyCarrier> }> = Object.entries(propertyTable)
  .map(([key, p]) => ({ key, id: p.id, name: p.name, type: p.type, rule: p.rule, carriers: p.carriers }))
  .sort((a, b) => a.id - b.id)

const known = new Set(all.map((p) => p.id))

const carrier = (name: PropertyCarrier, holder: string, section: string, label = "properties"): Carrier => {
  const entries = all.filter((p) => p.carriers.includes(name))
  const byId: Array<Entry | undefined> = []
  for (const entry of entries) byId[entry.id] = entry
  return { label, holder, section, entries, byId }
}

const carriers: { readonly [C in PropertyCarrier]: Carrier } = {
  Connect: carrier("Connect", "a CONNECT", "[MQTT-3.1.2.11]"),
  Will: carrier("Will", "a will", "[MQTT-3.1.3.2]", "will properties"),
  Connack: carrier("Connack", "a CONNACK", "[MQTT-3.2.2.3]"),
  Publish: carrier("Publish", "a PUBLISH", "[MQTT-3.3.2.3]"),
  Puback: carrier("Puback", "a PUBACK", "[MQTT-3.4.2.2]"),
  Pubrec: carrier("Pubrec", "a PUBREC", "[MQTT-3.5.2.2]"),
  Pubrel: carrier("Pubrel", "a PUBREL", "[MQTT-3.6.2.2]"),
  Pubcomp: carrier("Pubcomp", "a PUBCOMP", "[MQTT-3.7.2.2]"),
  Subscribe: carrier("Subscribe", "a SUBSCRIBE", "[MQTT-3.8.2.1]"),
  Suback: carrier("Suback", "a SUBACK", "[MQTT-3.9.2.1]"),
  Unsubscribe: carrier("Unsubscribe", "an UNSUBSCRIBE", "[MQTT-3.10.2.1]"),
  Unsuback: carrier("Unsuback", "an UNSUBACK", "[MQTT-3.11.2.1]"),
  Disconnect: carrier("Disconnect", "a DISCONNECT", "[MQTT-3.14.2.2]"),
  Auth: carrier("Auth", "an AUTH", "[MQTT-3.15.2.2]")
}

/** `Array.isArray` without its `any[]`. */
const isList = (v: unknown): v is Array<unknown> => Array.isArray(v)

const hex = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`

/** The value of one property, or why it is invalid; `p` is bounded by the property block. */
const readValue = (p: Reader, entry: Entry, c: Carrier): unknown => {
  const bad = (value: number | string, expected = "") =>
    p.fail(`${c.label} hold ${entry.name} ${value}${expected} ${entry.rule ?? c.section}`)
  switch (entry.type) {
    case "boolean":
    case "maximumQoS": {
      const b = p.u8()
      if (b < 0) return p.pastEnd(entry.name, 1)
      // The flag bytes are 0 or 1; another value is a Protocol Error (e.g. [MQTT-3.2.2.3.5]).
      if (b > 1) return bad(b, ", expected 0 or 1")
      return entry.type === "boolean" ? b === 1 : b
    }
    case "twoByte":
    case "nonZeroTwoByte": {
      const n = p.u16()
      if (n < 0) return p.pastEnd(entry.name, 2)
      // Receive Maximum and Topic Alias may not be 0 [MQTT-3.3.2-8].
      return n === 0 && entry.type === "nonZeroTwoByte" ? bad(0) : n
    }
    case "fourByte":
    case "nonZeroFourByte": {
      const n = p.u32()
      if (n < 0) return p.pastEnd(entry.name, 4)
      // Maximum Packet Size may not be 0 [MQTT-3.1.2.11.4].
      return n === 0 && entry.type === "nonZeroFourByte" ? bad(0) : n
    }
    case "subscriptionIdentifier":
    case "subscriptionIdentifiers": {
      // A Variable Byte Integer, malformed if not minimal [MQTT-1.5.5-1]; 0 is a Protocol Error [MQTT-3.3.2.3.8].
      const n = p.varint(entry.name)
      return n === 0 ? bad(0) : n
    }
    case "string":
      return p.string(entry.name)
    case "topicName": {
      const s = p.string(entry.name)
      if (typeof s !== "string") return s
      // The Response Topic is a topic name: no wildcards [MQTT-3.3.2-14], not empty [MQTT-4.7.3-1].
      const issue = topicNameShapeError(s)
      return issue === undefined ? s : p.fail(`${c.label} hold an invalid ${entry.name}: ${issue} ${entry.rule ?? c.section}`)
    }
    case "binary":
      return p.binary(entry.name)
    case "userProperties": {
      const name = p.string(`${entry.name} name`)
      if (typeof name !== "string") return name
      const value = p.string(`${entry.name} value`)
      return typeof value === "string" ? [name, value] : value
    }
  }
}

/**
 * Reads the Property Length and the properties after it, moving `r` past them (in version 5; in
 * version 4 there are none). Returns the properties
 * as an object (`undefined` when there are none), or why they are malformed: an identifier unknown
 * or not allowed in this carrier [MQTT-2.2.2.2], a property given twice that may appear once, a
 * value out of range, or a length that overruns the packet [MQTT-2.2.2.1].
 *
 * @since 0.3.0
 */
export const readProperties = <C extends PropertyCarrier>(r: Reader, name: C): PropertiesOf[C] | undefined | DecodeError => {
  // MQTT 3.1.1 has no properties.
  if (r.version === 4) return undefined
  const c = carriers[name]
  const field = c.label === "properties" ? "property length" : "will property length"
  const length = r.varint(field)
  if (typeof length !== "number") return length
  if (length === 0) return undefined
  if (length > r.remaining) return r.fail(`${field} ${length} is longer than the ${r.remaining} bytes that remain [MQTT-2.2.2.1]`)
  const p = r.block(length)
  r.pos += length
  const out: Record<string, unknown> = {}
  while (p.remaining > 0) {
    // The identifier is a Variable Byte Integer, though every identifier of MQTT 5.0 fits in one byte.
    const id = p.varint("property identifier")
    if (typeof id !== "number") return id
    const entry = c.byId[id]
    if (entry === undefined) {
      const what = known.has(id) ? `${all.find((e) => e.id === id)?.name} (${hex(id)}), which ${c.holder} may not carry` : `unknown property identifier ${hex(id)}`
      return p.fail(`${c.label} hold ${what} [MQTT-2.2.2.2]`)
    }
    const value = readValue(p, entry, c)
    if (value instanceof DecodeError) return value
    const list = entry.type === "userProperties" || entry.type === "subscriptionIdentifiers"
    const seen = out[entry.key]
    if (list) {
      if (isList(seen)) seen.push(value)
      else out[entry.key] = [value]
    } else if (seen !== undefined) {
      // Only User Property, and Subscription Identifier in a PUBLISH, may appear more than once.
      return p.fail(`${c.label} hold ${entry.name} (${hex(id)}) more than once ${c.section}`)
    } else out[entry.key] = value
  }
  // Every key is a property of this carrier, read with the rules of its type: a `PropertiesOf[C]`.
  return out as PropertiesOf[C]
}

/**
 * `fields` with `properties` added when there are any: a decoded packet has no `properties` key for
 * an empty property block.
 *
 * @since 0.3.0
 */
export const withProperties = <A extends object, P>(fields: A, properties: P | undefined): A | (A & { readonly properties: P }) =>
  properties === undefined ? fields : { ...fields, properties }

/** The value of property `key` in `properties`. */
const get = (properties: object, key: string): unknown => (properties as { readonly [key: string]: unknown })[key]

/** Bytes of one property, identifier included (one per element of a list). */
const entrySize = (type: PropertyType, value: unknown): number => {
  switch (type) {
    case "boolean":
    case "maximumQoS":
      return 2
    case "twoByte":
    case "nonZeroTwoByte":
      return 3
    case "fourByte":
    case "nonZeroFourByte":
      return 5
    case "subscriptionIdentifier":
      return typeof value === "number" ? 1 + varintSize(value) : 0
    case "string":
    case "topicName":
      return typeof value === "string" ? 3 + utf8Length(value) : 0
    case "binary":
      return value instanceof Uint8Array ? 3 + value.length : 0
    case "subscriptionIdentifiers":
    case "userProperties": {
      let n = 0
      if (isList(value)) {
        for (const item of value) {
          if (typeof item === "number") n += 1 + varintSize(item)
          else if (isList(item)) n += 5 + utf8Length(String(item[0])) + utf8Length(String(item[1]))
        }
      }
      return n
    }
  }
}

/** Bytes of the properties of `properties`, without the Property Length. */
const contentSize = (properties: object, c: Carrier): number => {
  let n = 0
  for (const entry of c.entries) {
    const value = get(properties, entry.key)
    if (value !== undefined) n += entrySize(entry.type, value)
  }
  return n
}

/**
 * Bytes of the property block of `properties`, its Property Length included: 1 for none
 * [MQTT-2.2.2-1].
 *
 * @since 0.3.0
 */
export const propertiesSize = (properties: object | undefined, name: PropertyCarrier): number => {
  if (properties === undefined) return 1
  const n = contentSize(properties, carriers[name])
  return varintSize(n) + n
}

/** Writes one property (one per element of a list); returns the position after it. */
const writeEntry = (out: Uint8Array, pos: number, entry: Entry, value: unknown): number => {
  if (entry.type === "userProperties" || entry.type === "subscriptionIdentifiers") {
    if (!isList(value)) return pos
    for (const item of value) {
      out[pos++] = entry.id
      if (typeof item === "number") pos = writeVarint(out, pos, item)
      else if (isList(item)) pos = writeString(out, writeString(out, pos, String(item[0])), String(item[1]))
    }
    return pos
  }
  out[pos++] = entry.id
  if (typeof value === "boolean") out[pos++] = value ? 1 : 0
  else if (value instanceof Uint8Array) pos = writeBinary(out, pos, value)
  else if (typeof value === "string") pos = writeString(out, pos, value)
  else if (typeof value === "number") {
    if (entry.type === "maximumQoS") out[pos++] = value
    else if (entry.type === "subscriptionIdentifier") pos = writeVarint(out, pos, value)
    else if (entry.type === "fourByte" || entry.type === "nonZeroFourByte") pos = writeU32(out, pos, value)
    else pos = writeU16(out, pos, value)
  }
  return pos
}

/**
 * Writes the property block of `properties` at `out[pos]`, in identifier order; returns the position
 * after it. Writes exactly `propertiesSize(properties, name)` bytes.
 *
 * @since 0.3.0
 */
export const writeProperties = (out: Uint8Array, pos: number, properties: object | undefined, name: PropertyCarrier): number => {
  if (properties === undefined) {
    out[pos] = 0 // no properties: a Property Length of 0 [MQTT-2.2.2-1]
    return pos + 1
  }
  const c = carriers[name]
  pos = writeVarint(out, pos, contentSize(properties, c))
  for (const entry of c.entries) {
    const value = get(properties, entry.key)
    if (value !== undefined) pos = writeEntry(out, pos, entry, value)
  }
  return pos
}

/**
 * Why the Schema-valid `properties` of `packet` (e.g. "PUBLISH") cannot be sent: a string that is not
 * an MQTT string [MQTT-1.5.4], Binary Data over 65535 bytes [MQTT-1.5.6], an invalid Response Topic
 * [MQTT-3.3.2-14]; or `undefined`.
 *
 * @since 0.3.0
 */
export const propertiesError = (properties: object | undefined, name: PropertyCarrier, packet: string): string | undefined => {
  if (properties === undefined) return undefined
  const c = carriers[name]
  for (const entry of c.entries) {
    const value = get(properties, entry.key)
    const field = `${packet} ${entry.name}`
    let issue: string | undefined
    if (typeof value === "string") {
      issue = mqttStringError(value, field)
      if (issue === undefined && entry.type === "topicName") {
        const topic = topicNameError(value)
        if (topic !== undefined) issue = `${packet} with an invalid ${entry.name}: ${topic} ${entry.rule ?? c.section}`
      }
    } else if (value instanceof Uint8Array) {
      issue = binaryError(field, value, rulesOf(5))
    } else if (entry.type === "userProperties" && isList(value)) {
      for (const pair of value) {
        issue = isList(pair) ? mqttStringError(String(pair[0]), `${field} name`) ?? mqttStringError(String(pair[1]), `${field} value`) : undefined
        if (issue !== undefined) break
      }
    }
    if (issue !== undefined) return issue
  }
  return undefined
}
