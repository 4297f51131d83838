/**
 * SUBSCRIBE [MQTT-3.8]: topic filters, each with its requested QoS. In MQTT 5.0 the QoS byte becomes
 * the Subscription Options (No Local, Retain As Published, Retain Handling) and properties follow the
 * packet identifier.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { packetCodec } from "../internal/PacketCodec.ts"
import type { PacketCodec } from "../internal/PacketCodec.ts"
import { propertiesError, propertiesSize, withProperties, writeProperties } from "../internal/PropertyCodec.ts"
import { readFilterList } from "../internal/filterList.ts"
import { Reader } from "../internal/Reader.ts"
import { filterError, firstError, prefixed } from "../internal/senderRules.ts"
import { stringSize, writeString, writeU16 } from "../internal/Writer.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { isSharedSubscription } from "../SharedSubscription.ts"
import { PacketId, QoS } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * One topic filter of a SUBSCRIBE with its requested QoS, in MQTT 3.1.1 [MQTT-3.8.3].
 *
 * @since 0.1.0
 * @category packets
 */
export const SubscriptionRequest = Schema.Struct({ filter: Schema.String, qos: QoS })

/**
 * One topic filter of a SUBSCRIBE with its Subscription Options, in MQTT 5.0 [MQTT-3.8.3.1]: the
 * maximum QoS, No Local, Retain As Published, and Retain Handling (0: send retained messages, 1: only
 * for a new subscription, 2: do not send them).
 *
 * @since 0.3.0
 * @category packets
 */
export const SubscriptionRequestV5 = Schema.Struct({
  ...SubscriptionRequest.fields,
  noLocal: Schema.Boolean,
  retainAsPublished: Schema.Boolean,
  retainHandling: Schema.Literals([0, 1, 2])
})

/**
 * A subscription request of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type SubscriptionRequest<V extends ProtocolVersion = 4> = V extends 5 ? typeof SubscriptionRequestV5.Type
  : typeof SubscriptionRequest.Type

/**
 * SUBSCRIBE in MQTT 3.1.1 [MQTT-3.8]; at least one filter [MQTT-3.8.3-2].
 *
 * @since 0.1.0
 * @category packets
 */
export const Subscribe = Schema.Struct({
  _tag: Schema.tag("Subscribe"),
  packetId: PacketId,
  subscriptions: Schema.Array(SubscriptionRequest).check(Schema.isMinLength(1))
})

/**
 * SUBSCRIBE in MQTT 5.0 [MQTT-3.8], with `properties`.
 *
 * @since 0.3.0
 * @category packets
 */
export const SubscribeV5 = Schema.Struct({
  _tag: Schema.tag("Subscribe"),
  packetId: PacketId,
  subscriptions: Schema.Array(SubscriptionRequestV5).check(Schema.isMinLength(1)),
  properties: Schema.optionalKey(PropertiesSchema.Subscribe)
})

/**
 * A SUBSCRIBE of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Subscribe<V extends ProtocolVersion = 4> = V extends 5 ? typeof SubscribeV5.Type : typeof Subscribe.Type

type AnySubscribe = Subscribe<ProtocolVersion>
type AnyRequest = SubscriptionRequest<ProtocolVersion>

const propertiesOf = (p: AnySubscribe): PropertiesOf["Subscribe"] | undefined => ("properties" in p ? p.properties : undefined)

/** The Subscription Options byte of `s` [MQTT-3.8.3.1]; in 3.1.1 only the QoS. */
const options = (s: AnyRequest, version: ProtocolVersion): number =>
  version === 5 && "noLocal" in s
    ? s.qos | (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | (s.retainHandling << 4)
    : s.qos

/** No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]. */
const noLocalError = (s: AnyRequest): string | undefined =>
  "noLocal" in s && s.noLocal && isSharedSubscription(s.filter) ? "with No Local on a shared subscription [MQTT-3.8.3-4]" : undefined

/** Reads the Subscription Options byte of version 5 [MQTT-3.8.3.1]. */
const readOptions = (r: Reader, filter: string): SubscriptionRequest<5> | DecodeError => {
  const o = r.u8()
  if (o < 0) return r.pastEnd("subscription options", 1)
  const hex = `0x${o.toString(16).padStart(2, "0")}`
  // Bits 6 and 7 are reserved [MQTT-3.8.3-5]; QoS 3 and Retain Handling 3 are Protocol Errors [MQTT-3.8.3.1].
  if ((o & 0xc0) !== 0) return r.fail(`with reserved bits set in the subscription options ${hex} [MQTT-3.8.3-5]`)
  if ((o & 3) === 3) return r.fail(`with maximum QoS 3 in the subscription options ${hex} [MQTT-3.8.3.1]`)
  if ((o & 0x30) === 0x30) return r.fail(`with Retain Handling 3 in the subscription options ${hex} [MQTT-3.8.3.1]`)
  const s = {
    filter,
    qos: (o & 3) as QoS,
    noLocal: (o & 4) !== 0,
    retainAsPublished: (o & 8) !== 0,
    retainHandling: ((o >> 4) & 3) as 0 | 1 | 2
  }
  const issue = noLocalError(s)
  return issue === undefined ? s : r.fail(issue)
}

/** Reads the requested QoS byte of version 4. */
const readQos = (r: Reader, filter: string): SubscriptionRequest | DecodeError => {
  const qos = r.u8()
  if (qos < 0) return r.pastEnd("requested QoS", 1)
  // Upper 6 bits are reserved and QoS 3 is not a QoS [MQTT-3.8.3-4] (3.1.1 numbering).
  if (qos > 2) return r.fail(`with invalid requested QoS byte 0x${qos.toString(16).padStart(2, "0")} [MQTT-3.8.3-4]`)
  return { filter, qos: qos as QoS }
}

/** The codec of SUBSCRIBE, for the table of packet types. */
export const codec: PacketCodec<AnySubscribe> = packetCodec({
  size: (p, version) => {
    let n = version === 5 ? 2 + propertiesSize(propertiesOf(p), "Subscribe") : 2
    for (const s of p.subscriptions) n += stringSize(s.filter) + 1
    return n
  },
  write: (out, pos, p, version) => {
    pos = writeU16(out, pos, p.packetId)
    if (version === 5) pos = writeProperties(out, pos, propertiesOf(p), "Subscribe")
    for (const s of p.subscriptions) {
      pos = writeString(out, pos, s.filter)
      out[pos++] = options(s, version)
    }
  },
  read: (bytes, start, end, _flags, kind, version) => {
    const r = new Reader(bytes, start, end, kind, version)
    // At least one filter: [MQTT-3.8.3-3] in 3.1.1, [MQTT-3.8.3-2] in 5.0.
    if (version === 4) {
      const body = readFilterList(r, "Subscribe", "[MQTT-3.8.3-3]", readQos)
      return body instanceof DecodeError ? body : { _tag: "Subscribe", packetId: body.packetId, subscriptions: body.entries }
    }
    const body = readFilterList(r, "Subscribe", "[MQTT-3.8.3-2]", readOptions)
    if (body instanceof DecodeError) return body
    return withProperties({ _tag: "Subscribe", packetId: body.packetId, subscriptions: body.entries }, body.properties)
  },
  error: (p, version) =>
    firstError(
      p.subscriptions,
      (s) => filterError("SUBSCRIBE", s.filter) ?? prefixed("SUBSCRIBE ", version === 5 ? noLocalError(s) : undefined)
    ) ?? (version === 5 ? propertiesError(propertiesOf(p), "Subscribe", "SUBSCRIBE") : undefined)
})
