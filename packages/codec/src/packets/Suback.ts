/**
 * SUBACK [MQTT-3.9]: one code per filter of the SUBSCRIBE it answers, in order [MQTT-3.9.3-1]: the
 * granted QoS, or a failure. `returnCodes` holds MQTT 3.1.1 return codes, or MQTT 5.0 reason codes
 * (then properties follow the packet identifier).
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
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
 * SUBACK return codes of MQTT 3.1.1: the granted QoS, or 0x80 for failure [MQTT-3.9.3].
 *
 * @since 0.1.0
 * @category packets
 */
export const SubackReturnCode = Schema.Literals([0, 1, 2, 0x80])
/**
 * @since 0.1.0
 * @category packets
 */
export type SubackReturnCode = typeof SubackReturnCode.Type

/**
 * SUBACK in MQTT 3.1.1 [MQTT-3.9].
 *
 * @since 0.1.0
 * @category packets
 */
export const Suback = Schema.Struct({
  _tag: Schema.tag("Suback"),
  packetId: PacketId,
  returnCodes: Schema.Array(SubackReturnCode)
})

/**
 * SUBACK in MQTT 5.0 [MQTT-3.9]: `returnCodes` are reason codes (below 0x80 the granted QoS).
 *
 * @since 0.3.0
 * @category packets
 */
export const SubackV5 = Schema.Struct({
  _tag: Schema.tag("Suback"),
  packetId: PacketId,
  returnCodes: Schema.Array(ReasonCodeSchema.Suback),
  properties: Schema.optionalKey(PropertiesSchema.Suback)
})

/**
 * A SUBACK of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Suback<V extends ProtocolVersion = 4> = V extends 5 ? typeof SubackV5.Type : typeof Suback.Type

type AnySuback = Suback<ProtocolVersion>

const propertiesOf = (p: AnySuback): PropertiesOf["Suback"] | undefined => ("properties" in p ? p.properties : undefined)

/** The codec of SUBACK, for the table of packet types. */
export const codec: PacketCodec<AnySuback> = packetCodec({
  size: (p, version) => (version === 5 ? 2 + propertiesSize(propertiesOf(p), "Suback") : 2) + p.returnCodes.length,
  write: (out, pos, p, version) => {
    pos = writeU16(out, pos, p.packetId)
    if (version === 5) pos = writeProperties(out, pos, propertiesOf(p), "Suback")
    for (const code of p.returnCodes) out[pos++] = code
  },
  read: (bytes, start, end, _flags, kind, version) => {
    const r = new Reader(bytes, start, end, kind, version)
    const packetId = r.packetId()
    if (typeof packetId !== "number") return packetId
    if (version === 4) {
      const returnCodes: Array<SubackReturnCode> = []
      for (let i = r.pos; i < end; i++) {
        const code = bytes[i] as number
        // Only 0x00, 0x01, 0x02 and 0x80 are allowed [MQTT-3.9.3-2] (3.1.1 numbering).
        if (code > 2 && code !== 0x80) {
          return r.fail(`with reserved return code 0x${code.toString(16).padStart(2, "0")} [MQTT-3.9.3-2]`)
        }
        returnCodes.push(code as SubackReturnCode)
      }
      return { _tag: "Suback", packetId, returnCodes }
    }
    // One of the Subscribe Reason Codes for each filter [MQTT-3.9.3-2].
    const list = readCodeList(r, "Suback", "[MQTT-3.9.3-2]")
    if (list instanceof DecodeError) return list
    return withProperties({ _tag: "Suback", packetId, returnCodes: list.codes }, list.properties)
  },
  error: (p, version) => (version === 5 ? propertiesError(propertiesOf(p), "Suback", "SUBACK") : undefined)
})
