/**
 * MQTT 5.0 reason codes [MQTT-2.4]: the one table of every reason code (its value, its name in the
 * standard and the packets that may carry it, as Table 2-6), the `ReasonCode` constants, and the
 * Schema of the codes each packet may carry, built from that table. Codes below 0x80 report success,
 * 0x80 and above failure.
 *
 * Table 2-6 lists 0x8C (Bad authentication method) for DISCONNECT, though the DISCONNECT chapter's own
 * table (3-10) leaves it out; the codec follows Table 2-6 and accepts it.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"

/**
 * The packets that carry a reason code (SUBACK and UNSUBACK carry a list of them).
 *
 * @since 0.3.0
 * @category reason codes
 */
export const reasonCodeCarriers = [
  "Connack",
  "Puback",
  "Pubrec",
  "Pubrel",
  "Pubcomp",
  "Suback",
  "Unsuback",
  "Disconnect",
  "Auth"
] as const

/**
 * One of {@link reasonCodeCarriers}.
 *
 * @since 0.3.0
 * @category reason codes
 */
export type ReasonCodeCarrier = (typeof reasonCodeCarriers)[number]

const code = <const N extends number, const C extends ReadonlyArray<ReasonCodeCarrier>>(
  value: N,
  name: string,
  carriers: C
) => ({ value, name, carriers })

const ERRORS = ["Connack", "Puback", "Pubrec", "Suback", "Unsuback", "Disconnect"] as const

/**
 * Table 2-6, by constant name: each reason code's value, name and the packets that may carry it.
 *
 * @since 0.3.0
 * @category reason codes
 */
export const reasonCodeTable = {
  Success: code(0x00, "Success", ["Connack", "Puback", "Pubrec", "Pubrel", "Pubcomp", "Unsuback", "Auth"]),
  NormalDisconnection: code(0x00, "Normal disconnection", ["Disconnect"]),
  GrantedQoS0: code(0x00, "Granted QoS 0", ["Suback"]),
  GrantedQoS1: code(0x01, "Granted QoS 1", ["Suback"]),
  GrantedQoS2: code(0x02, "Granted QoS 2", ["Suback"]),
  DisconnectWithWillMessage: code(0x04, "Disconnect with Will Message", ["Disconnect"]),
  NoMatchingSubscribers: code(0x10, "No matching subscribers", ["Puback", "Pubrec"]),
  NoSubscriptionExisted: code(0x11, "No subscription existed", ["Unsuback"]),
  ContinueAuthentication: code(0x18, "Continue authentication", ["Auth"]),
  ReAuthenticate: code(0x19, "Re-authenticate", ["Auth"]),
  UnspecifiedError: code(0x80, "Unspecified error", ERRORS),
  MalformedPacket: code(0x81, "Malformed Packet", ["Connack", "Disconnect"]),
  ProtocolError: code(0x82, "Protocol Error", ["Connack", "Disconnect"]),
  ImplementationSpecificError: code(0x83, "Implementation specific error", ERRORS),
  UnsupportedProtocolVersion: code(0x84, "Unsupported Protocol Version", ["Connack"]),
  ClientIdentifierNotValid: code(0x85, "Client Identifier not valid", ["Connack"]),
  BadUserNameOrPassword: code(0x86, "Bad User Name or Password", ["Connack"]),
  NotAuthorized: code(0x87, "Not authorized", ERRORS),
  ServerUnavailable: code(0x88, "Server unavailable", ["Connack"]),
  ServerBusy: code(0x89, "Server busy", ["Connack", "Disconnect"]),
  Banned: code(0x8a, "Banned", ["Connack"]),
  ServerShuttingDown: code(0x8b, "Server shutting down", ["Disconnect"]),
  BadAuthenticationMethod: code(0x8c, "Bad authentication method", ["Connack", "Disconnect"]),
  KeepAliveTimeout: code(0x8d, "Keep Alive timeout", ["Disconnect"]),
  SessionTakenOver: code(0x8e, "Session taken over", ["Disconnect"]),
  TopicFilterInvalid: code(0x8f, "Topic Filter invalid", ["Suback", "Unsuback", "Disconnect"]),
  TopicNameInvalid: code(0x90, "Topic Name invalid", ["Connack", "Puback", "Pubrec", "Disconnect"]),
  PacketIdentifierInUse: code(0x91, "Packet Identifier in use", ["Puback", "Pubrec", "Suback", "Unsuback"]),
  PacketIdentifierNotFound: code(0x92, "Packet Identifier not found", ["Pubrel", "Pubcomp"]),
  ReceiveMaximumExceeded: code(0x93, "Receive Maximum exceeded", ["Disconnect"]),
  TopicAliasInvalid: code(0x94, "Topic Alias invalid", ["Disconnect"]),
  PacketTooLarge: code(0x95, "Packet too large", ["Connack", "Disconnect"]),
  MessageRateTooHigh: code(0x96, "Message rate too high", ["Disconnect"]),
  QuotaExceeded: code(0x97, "Quota exceeded", ["Connack", "Puback", "Pubrec", "Suback", "Disconnect"]),
  AdministrativeAction: code(0x98, "Administrative action", ["Disconnect"]),
  PayloadFormatInvalid: code(0x99, "Payload format invalid", ["Connack", "Puback", "Pubrec", "Disconnect"]),
  RetainNotSupported: code(0x9a, "Retain not supported", ["Connack", "Disconnect"]),
  QoSNotSupported: code(0x9b, "QoS not supported", ["Connack", "Disconnect"]),
  UseAnotherServer: code(0x9c, "Use another server", ["Connack", "Disconnect"]),
  ServerMoved: code(0x9d, "Server moved", ["Connack", "Disconnect"]),
  SharedSubscriptionsNotSupported: code(0x9e, "Shared Subscriptions not supported", ["Suback", "Disconnect"]),
  ConnectionRateExceeded: code(0x9f, "Connection rate exceeded", ["Connack", "Disconnect"]),
  MaximumConnectTime: code(0xa0, "Maximum connect time", ["Disconnect"]),
  SubscriptionIdentifiersNotSupported: code(0xa1, "Subscription Identifiers not supported", ["Suback", "Disconnect"]),
  WildcardSubscriptionsNotSupported: code(0xa2, "Wildcard Subscriptions not supported", ["Suback", "Disconnect"])
}

type Table = typeof reasonCodeTable

/**
 * Every reason code by name, e.g. `ReasonCode.NotAuthorized` is 0x87.
 *
 * @since 0.3.0
 * @category reason codes
 */
export const ReasonCode = Object.fromEntries(
  Object.entries(reasonCodeTable).map(([name, row]) => [name, row.value])
) as { readonly [K in keyof Table]: Table[K]["value"] }

/**
 * The reason codes `carrier` may carry.
 *
 * @since 0.3.0
 * @category reason codes
 */
export type ReasonCodeOf<C extends ReasonCodeCarrier> = {
  [K in keyof Table]: C extends Table[K]["carriers"][number] ? Table[K]["value"] : never
}[keyof Table]

/**
 * The values `carrier` may carry, ascending.
 *
 * @since 0.3.0
 * @category reason codes
 */
export const reasonCodesOf = <C extends ReasonCodeCarrier>(carrier: C): ReadonlyArray<ReasonCodeOf<C>> => {
  const values = new Set<number>()
  for (const row of Object.values(reasonCodeTable)) {
    if ((row.carriers as ReadonlyArray<ReasonCodeCarrier>).includes(carrier)) values.add(row.value)
  }
  // Exactly the values whose row lists `carrier`: what `ReasonCodeOf<C>` says.
  return [...values].sort((a, b) => a - b) as Array<ReasonCodeOf<C>>
}

/** One word per value, bit `1 << i` set when carrier `i` may carry it: one load per check on decode. */
const bit = Object.fromEntries(reasonCodeCarriers.map((c, i) => [c, 1 << i])) as { readonly [C in ReasonCodeCarrier]: number }
const allowed = new Uint16Array(256)
for (const row of Object.values(reasonCodeTable)) {
  for (const carrier of row.carriers) allowed[row.value] = (allowed[row.value] as number) | bit[carrier]
}

/**
 * Whether a packet of kind `carrier` may carry reason code `value`.
 *
 * @since 0.3.0
 * @category reason codes
 */
export const isReasonCodeOf = (carrier: ReasonCodeCarrier, value: number): boolean =>
  ((allowed[value] ?? 0) & bit[carrier]) !== 0

/**
 * The standard's name of reason code `value` in a packet of kind `carrier`, e.g. "Normal disconnection"
 * for 0 in a DISCONNECT; `undefined` when that packet may not carry it.
 *
 * @since 0.3.0
 * @category reason codes
 */
export const reasonCodeName = (carrier: ReasonCodeCarrier, value: number): string | undefined => {
  for (const row of Object.values(reasonCodeTable)) {
    if (row.value === value && (row.carriers as ReadonlyArray<ReasonCodeCarrier>).includes(carrier)) return row.name
  }
  return undefined
}

/**
 * The Schema of the reason codes each carrier may carry, built from {@link reasonCodeTable}: e.g.
 * `ReasonCodeSchema.Puback` admits the PUBACK reason codes [MQTT-3.4.2.1] and nothing else.
 *
 * @since 0.3.0
 * @category reason codes
 */
export const ReasonCodeSchema = Object.fromEntries(reasonCodeCarriers.map((c) => [c, Schema.Literals(reasonCodesOf(c))])) as {
  readonly [C in ReasonCodeCarrier]: Schema.Literals<ReadonlyArray<ReasonCodeOf<C>>>
}
