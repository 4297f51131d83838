/**
 * MQTT 5.0 properties [MQTT-2.2.2]: the one table of every property (its identifier, its type and
 * which packets may carry it, as Table 2-4 of the standard), and the Schema of the `properties` of
 * each packet, built from that table.
 *
 * Field names are the standard's names in camelCase. Two properties may appear more than once:
 * User Property, kept in order as `userProperties`, a list of `[name, value]` pairs (names may
 * repeat) [MQTT-3.3.2-18]; and Subscription Identifier in a PUBLISH, `subscriptionIdentifiers`. In a
 * SUBSCRIBE it appears at most once, `subscriptionIdentifier`. Every other property appears at most
 * once. The Byte properties whose value is 0 or 1 are booleans, except `maximumQoS` (0 | 1).
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { NonZeroUInt16, NonZeroUInt32, SubscriptionIdentifier, UInt16, UInt32 } from "./packets/fields.ts"

/**
 * The packets that may carry properties, and `"Will"`, the will properties in a CONNECT payload.
 *
 * @since 0.3.0
 * @category properties
 */
export const propertyCarriers = [
  "Connect",
  "Will",
  "Connack",
  "Publish",
  "Puback",
  "Pubrec",
  "Pubrel",
  "Pubcomp",
  "Subscribe",
  "Suback",
  "Unsubscribe",
  "Unsuback",
  "Disconnect",
  "Auth"
] as const

/**
 * One of {@link propertyCarriers}.
 *
 * @since 0.3.0
 * @category properties
 */
export type PropertyCarrier = (typeof propertyCarriers)[number]

/**
 * The User Property pairs of a packet, in wire order; a name may appear more than once [MQTT-3.3.2-18].
 *
 * @since 0.3.0
 * @category properties
 */
export const UserProperties = Schema.Array(Schema.Tuple([Schema.String, Schema.String])).check(Schema.isMinLength(1))
/**
 * @since 0.3.0
 * @category properties
 */
export type UserProperties = typeof UserProperties.Type

/**
 * The value Schema of each property type: the data type of Table 2-4 with the values the standard
 * allows (0 or 1 for the flag bytes, no 0 where 0 is a Protocol Error). A `topicName` is a UTF-8
 * string that must be a topic name; the two list types hold the repeatable properties.
 *
 * @since 0.3.0
 * @category properties
 */
export const propertyValue = {
  boolean: Schema.Boolean,
  maximumQoS: Schema.Literals([0, 1]),
  twoByte: UInt16,
  nonZeroTwoByte: NonZeroUInt16,
  fourByte: UInt32,
  nonZeroFourByte: NonZeroUInt32,
  subscriptionIdentifier: SubscriptionIdentifier,
  subscriptionIdentifiers: Schema.Array(SubscriptionIdentifier).check(Schema.isMinLength(1)),
  string: Schema.String,
  topicName: Schema.String,
  binary: Schema.Uint8Array,
  userProperties: UserProperties
}

/**
 * The type of a property: its wire data type and value rule (see {@link propertyValue}).
 *
 * @since 0.3.0
 * @category properties
 */
export type PropertyType = keyof typeof propertyValue

const property = <const T extends PropertyType, const C extends ReadonlyArray<PropertyCarrier>>(
  id: number,
  name: string,
  type: T,
  carriers: C,
  rule?: string
) => ({ id, name, type, carriers, rule })

const ACKS = ["Puback", "Pubrec", "Pubrel", "Pubcomp", "Suback", "Unsuback"] as const

/**
 * Every MQTT 5.0 property [MQTT-2.2.2.2], by field name: its identifier, its name in the standard,
 * its type, the packets that may carry it, and the rule its value breaks when out of range (when the
 * standard numbers one; otherwise the carrier's properties section is cited).
 *
 * @since 0.3.0
 * @category properties
 */
export const propertyTable = {
  payloadFormatIndicator: property(0x01, "Payload Format Indicator", "boolean", ["Publish", "Will"]),
  messageExpiryInterval: property(0x02, "Message Expiry Interval", "fourByte", ["Publish", "Will"]),
  contentType: property(0x03, "Content Type", "string", ["Publish", "Will"]),
  responseTopic: property(0x08, "Response Topic", "topicName", ["Publish", "Will"], "[MQTT-3.3.2-14]"),
  correlationData: property(0x09, "Correlation Data", "binary", ["Publish", "Will"]),
  subscriptionIdentifiers: property(0x0b, "Subscription Identifier", "subscriptionIdentifiers", ["Publish"], "[MQTT-3.3.2.3.8]"),
  subscriptionIdentifier: property(0x0b, "Subscription Identifier", "subscriptionIdentifier", ["Subscribe"], "[MQTT-3.8.2.1.2]"),
  sessionExpiryInterval: property(0x11, "Session Expiry Interval", "fourByte", ["Connect", "Connack", "Disconnect"]),
  assignedClientIdentifier: property(0x12, "Assigned Client Identifier", "string", ["Connack"]),
  serverKeepAlive: property(0x13, "Server Keep Alive", "twoByte", ["Connack"]),
  authenticationMethod: property(0x15, "Authentication Method", "string", ["Connect", "Connack", "Auth"]),
  authenticationData: property(0x16, "Authentication Data", "binary", ["Connect", "Connack", "Auth"]),
  requestProblemInformation: property(0x17, "Request Problem Information", "boolean", ["Connect"]),
  willDelayInterval: property(0x18, "Will Delay Interval", "fourByte", ["Will"]),
  requestResponseInformation: property(0x19, "Request Response Information", "boolean", ["Connect"]),
  responseInformation: property(0x1a, "Response Information", "string", ["Connack"]),
  serverReference: property(0x1c, "Server Reference", "string", ["Connack", "Disconnect"]),
  reasonString: property(0x1f, "Reason String", "string", ["Connack", ...ACKS, "Disconnect", "Auth"]),
  receiveMaximum: property(0x21, "Receive Maximum", "nonZeroTwoByte", ["Connect", "Connack"]),
  topicAliasMaximum: property(0x22, "Topic Alias Maximum", "twoByte", ["Connect", "Connack"]),
  topicAlias: property(0x23, "Topic Alias", "nonZeroTwoByte", ["Publish"], "[MQTT-3.3.2-8]"),
  maximumQoS: property(0x24, "Maximum QoS", "maximumQoS", ["Connack"]),
  retainAvailable: property(0x25, "Retain Available", "boolean", ["Connack"]),
  userProperties: property(0x26, "User Property", "userProperties", [
    "Connect",
    "Connack",
    "Publish",
    "Will",
    ...ACKS,
    "Subscribe",
    "Unsubscribe",
    "Disconnect",
    "Auth"
  ]),
  maximumPacketSize: property(0x27, "Maximum Packet Size", "nonZeroFourByte", ["Connect", "Connack"]),
  wildcardSubscriptionAvailable: property(0x28, "Wildcard Subscription Available", "boolean", ["Connack"]),
  subscriptionIdentifiersAvailable: property(0x29, "Subscription Identifier Available", "boolean", ["Connack"]),
  sharedSubscriptionAvailable: property(0x2a, "Shared Subscription Available", "boolean", ["Connack"])
}

type Table = typeof propertyTable

/**
 * The field names of the properties `carrier` may carry.
 *
 * @since 0.3.0
 * @category properties
 */
export type PropertyName<C extends PropertyCarrier> = {
  [K in keyof Table]: C extends Table[K]["carriers"][number] ? K : never
}[keyof Table]

type Fields<C extends PropertyCarrier> = {
  readonly [K in PropertyName<C>]: Schema.optionalKey<(typeof propertyValue)[Table[K]["type"]]>
}

/** The Schema of the properties `carrier` may carry, every one optional, built from the table. */
const propertiesOf = <C extends PropertyCarrier>(carrier: C): Schema.Struct<Fields<C>> => {
  const fields: Record<string, Schema.Top> = {}
  for (const [key, p] of Object.entries(propertyTable)) {
    if ((p.carriers as ReadonlyArray<PropertyCarrier>).includes(carrier)) fields[key] = Schema.optionalKey(propertyValue[p.type])
  }
  // The keys are exactly `PropertyName<C>`, each with the schema of its type: what `Fields<C>` says.
  return Schema.Struct(fields as unknown as Fields<C>)
}

/**
 * The Schema of the `properties` of each carrier, built from {@link propertyTable}: e.g.
 * `PropertiesSchema.Publish` for a PUBLISH [MQTT-3.3.2.3], `PropertiesSchema.Will` for the will
 * properties of a CONNECT [MQTT-3.1.3.2]. Every property is optional.
 *
 * @since 0.3.0
 * @category properties
 */
export const PropertiesSchema = Object.fromEntries(propertyCarriers.map((c) => [c, propertiesOf(c)])) as {
  readonly [C in PropertyCarrier]: Schema.Struct<Fields<C>>
}

/**
 * The type of the properties of each carrier, e.g. `PropertiesOf["Publish"]`.
 *
 * @since 0.3.0
 * @category properties
 */
export type PropertiesOf = { readonly [C in PropertyCarrier]: (typeof PropertiesSchema)[C]["Type"] }
