/**
 * UNSUBACK [MQTT-3.11]: the answer to an UNSUBSCRIBE. MQTT 3.1.1: a packet identifier only. MQTT 5.0:
 * then properties, and one reason code per filter, in order [MQTT-3.11.3-1].
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { readPacketIdOnly } from "../internal/ack.ts"
import { readCodeList } from "../internal/reasons.ts"
import { packetCodec } from "../internal/PacketCodec.ts"
import type { PacketCodec } from "../internal/PacketCodec.ts"
import { propertiesError, propertiesSize, withProperties, writeProperties } from "../internal/PropertyCodec.ts"
import { Reader } from "../internal/Reader.ts"
import { writeU16 } from "../internal/Writer.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { ReasonCodeSchema } from "../ReasonCode.ts"
import { PacketId } from "./fields.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * UNSUBACK in MQTT 3.1.1 [MQTT-3.11].
 *
 * @since 0.1.0
 * @category packets
 */
export const Unsuback = Schema.Struct({ _tag: Schema.tag("Unsuback"), packetId: PacketId })

/**
 * UNSUBACK in MQTT 5.0 [MQTT-3.11]: `reasonCodes`, one per filter of the UNSUBSCRIBE.
 *
 * @since 0.3.0
 * @category packets
 */
export const UnsubackV5 = Schema.Struct({
  ...Unsuback.fields,
  reasonCodes: Schema.Array(ReasonCodeSchema.Unsuback),
  properties: Schema.optionalKey(PropertiesSchema.Unsuback)
})

/**
 * An UNSUBACK of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Unsuback<V extends ProtocolVersion = 4> = V extends 5 ? typeof UnsubackV5.Type : typeof Unsuback.Type

type AnyUnsuback = Unsuback<ProtocolVersion>

const propertiesOf = (p: AnyUnsuback): PropertiesOf["Unsuback"] | undefined => ("properties" in p ? p.properties : undefined)
const codesOf = (p: AnyUnsuback): ReadonlyArray<number> => ("reasonCodes" in p ? p.reasonCodes : [])

/** The codec of UNSUBACK, for the table of packet types. */
export const codec: PacketCodec<AnyUnsuback> = packetCodec({
  idOnly4: true,
  size: (p, version) => (version === 5 ? 2 + propertiesSize(propertiesOf(p), "Unsuback") + codesOf(p).length : 2),
  write: (out, pos, p, version) => {
    pos = writeU16(out, pos, p.packetId)
    if (version === 4) return
    pos = writeProperties(out, pos, propertiesOf(p), "Unsuback")
    for (const code of codesOf(p)) out[pos++] = code
  },
  read: (bytes, start, end, _flags, kind, version) => {
    if (version === 4) {
      const packetId = readPacketIdOnly(bytes, start, end, kind)
      return typeof packetId === "number" ? { _tag: "Unsuback", packetId } : packetId
    }
    const r = new Reader(bytes, start, end, kind, version)
    const packetId = r.packetId()
    if (typeof packetId !== "number") return packetId
    // One of the Unsubscribe Reason Codes for each filter [MQTT-3.11.3-2].
    const list = readCodeList(r, "Unsuback", "[MQTT-3.11.3-2]")
    if (list instanceof DecodeError) return list
    return withProperties({ _tag: "Unsuback", packetId, reasonCodes: list.codes }, list.properties)
  },
  error: (p, version) => (version === 5 ? propertiesError(propertiesOf(p), "Unsuback", "UNSUBACK") : undefined)
})
