/**
 * UNSUBSCRIBE [MQTT-3.10]: the topic filters to remove. In MQTT 5.0 properties follow the packet
 * identifier.
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
import { filterError, firstError } from "../internal/senderRules.ts"
import { stringSize, writeString, writeU16 } from "../internal/Writer.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { PacketId } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * UNSUBSCRIBE in MQTT 3.1.1 [MQTT-3.10]; at least one filter [MQTT-3.10.3-2].
 *
 * @since 0.1.0
 * @category packets
 */
export const Unsubscribe = Schema.Struct({
  _tag: Schema.tag("Unsubscribe"),
  packetId: PacketId,
  filters: Schema.Array(Schema.String).check(Schema.isMinLength(1))
})

/**
 * UNSUBSCRIBE in MQTT 5.0 [MQTT-3.10], with `properties`.
 *
 * @since 0.3.0
 * @category packets
 */
export const UnsubscribeV5 = Schema.Struct({ ...Unsubscribe.fields, properties: Schema.optionalKey(PropertiesSchema.Unsubscribe) })

/**
 * An UNSUBSCRIBE of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Unsubscribe<V extends ProtocolVersion = 4> = V extends 5 ? typeof UnsubscribeV5.Type : typeof Unsubscribe.Type

type AnyUnsubscribe = Unsubscribe<ProtocolVersion>

const propertiesOf = (p: AnyUnsubscribe): PropertiesOf["Unsubscribe"] | undefined => ("properties" in p ? p.properties : undefined)

/** The codec of UNSUBSCRIBE, for the table of packet types. */
export const codec: PacketCodec<AnyUnsubscribe> = packetCodec({
  size: (p, version) => {
    let n = version === 5 ? 2 + propertiesSize(propertiesOf(p), "Unsubscribe") : 2
    for (const f of p.filters) n += stringSize(f)
    return n
  },
  write: (out, pos, p, version) => {
    pos = writeU16(out, pos, p.packetId)
    if (version === 5) pos = writeProperties(out, pos, propertiesOf(p), "Unsubscribe")
    for (const f of p.filters) pos = writeString(out, pos, f)
  },
  read: (bytes, start, end, _flags, kind, version) => {
    const r = new Reader(bytes, start, end, kind, version)
    const body = readFilterList(r, "Unsubscribe", "[MQTT-3.10.3-2]", (_, filter) => filter)
    if (body instanceof DecodeError) return body
    return withProperties({ _tag: "Unsubscribe", packetId: body.packetId, filters: body.entries }, body.properties)
  },
  error: (p, version) =>
    firstError(p.filters, (f) => filterError("UNSUBSCRIBE", f)) ??
      (version === 5 ? propertiesError(propertiesOf(p), "Unsubscribe", "UNSUBSCRIBE") : undefined)
})
