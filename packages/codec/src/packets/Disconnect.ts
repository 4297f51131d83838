/**
 * DISCONNECT [MQTT-3.14]: the last packet of a connection. Empty in MQTT 3.1.1. In MQTT 5.0 it
 * carries a reason code and properties, either of which the short forms omit: remaining length 0 is
 * Normal disconnection without properties, 1 a reason code without properties [MQTT-3.14.2.1].
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { readTail, tailSize, writeTail } from "../internal/reasons.ts"
import { emptyBodyError } from "../internal/empty.ts"
import { packetCodec } from "../internal/PacketCodec.ts"
import type { PacketCodec } from "../internal/PacketCodec.ts"
import { propertiesError, withProperties } from "../internal/PropertyCodec.ts"
import { Reader } from "../internal/Reader.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { ReasonCodeSchema } from "../ReasonCode.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * DISCONNECT in MQTT 3.1.1 [MQTT-3.14].
 *
 * @since 0.1.0
 * @category packets
 */
export const Disconnect = Schema.Struct({ _tag: Schema.tag("Disconnect") })

/**
 * DISCONNECT in MQTT 5.0 [MQTT-3.14]: `reasonCode` 0 is Normal disconnection.
 *
 * @since 0.3.0
 * @category packets
 */
export const DisconnectV5 = Schema.Struct({
  ...Disconnect.fields,
  reasonCode: ReasonCodeSchema.Disconnect,
  properties: Schema.optionalKey(PropertiesSchema.Disconnect)
})

/**
 * A DISCONNECT of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Disconnect<V extends ProtocolVersion = 4> = V extends 5 ? typeof DisconnectV5.Type : typeof Disconnect.Type

type AnyDisconnect = Disconnect<ProtocolVersion>

const reasonOf = (p: AnyDisconnect): number => ("reasonCode" in p ? p.reasonCode : 0)
const propertiesOf = (p: AnyDisconnect): PropertiesOf["Disconnect"] | undefined => ("properties" in p ? p.properties : undefined)

/** The codec of DISCONNECT, for the table of packet types. */
export const codec: PacketCodec<AnyDisconnect> = packetCodec({
  size: (p, version) => (version === 5 ? tailSize(reasonOf(p), propertiesOf(p), "Disconnect", true) : 0),
  write: (out, pos, p, version) => {
    if (version === 5) writeTail(out, pos, reasonOf(p), propertiesOf(p), "Disconnect", true)
  },
  read: (bytes, start, end, _flags, kind, version) => {
    if (version === 4) return emptyBodyError(start, end, kind, version) ?? { _tag: "Disconnect" }
    // One of the DISCONNECT Reason Codes [MQTT-3.14.2-1].
    const tail = readTail(new Reader(bytes, start, end, kind, version), "Disconnect", "[MQTT-3.14.2-1]", true)
    if (tail instanceof DecodeError) return tail
    return withProperties({ _tag: "Disconnect", reasonCode: tail.reasonCode }, tail.properties)
  },
  error: (p, version) => (version === 5 ? propertiesError(propertiesOf(p), "Disconnect", "DISCONNECT") : undefined)
})
