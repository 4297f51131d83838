/**
 * AUTH [MQTT-3.15]: a step of extended authentication, MQTT 5.0 only (packet type 15 is reserved in
 * MQTT 3.1.1). A reason code and properties, which must include the Authentication Method; or,
 * for Success without properties, nothing at all (remaining length 0) [MQTT-3.15.2.1].
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { readTail, tailSize, writeTail } from "../internal/reasons.ts"
import { packetCodec } from "../internal/PacketCodec.ts"
import type { PacketCodec } from "../internal/PacketCodec.ts"
import { propertiesError, withProperties } from "../internal/PropertyCodec.ts"
import { Reader } from "../internal/Reader.ts"
import { PropertiesSchema } from "../Properties.ts"
import { ReasonCodeSchema } from "../ReasonCode.ts"

/**
 * AUTH [MQTT-3.15]: `reasonCode` 0 is Success, 0x18 Continue authentication, 0x19 Re-authenticate.
 *
 * @since 0.3.0
 * @category packets
 */
export const Auth = Schema.Struct({
  _tag: Schema.tag("Auth"),
  reasonCode: ReasonCodeSchema.Auth,
  properties: Schema.optionalKey(PropertiesSchema.Auth)
})
/**
 * @since 0.3.0
 * @category packets
 */
export type Auth = typeof Auth.Type

/**
 * Omitting the Authentication Method is a Protocol Error [MQTT-3.15.2.2.2], except in the short form
 * (Success without properties), which has no properties at all.
 */
const methodError = (p: Auth): string | undefined =>
  (p.reasonCode !== 0 || p.properties !== undefined) && p.properties?.authenticationMethod === undefined
    ? "without an Authentication Method [MQTT-3.15.2.2.2]"
    : undefined

/** The codec of AUTH, for the table of packet types. */
export const codec: PacketCodec<Auth> = packetCodec({
  size: (p) => tailSize(p.reasonCode, p.properties, "Auth", false),
  write: (out, pos, p) => {
    writeTail(out, pos, p.reasonCode, p.properties, "Auth", false)
  },
  read: (bytes, start, end, _flags, kind, version) => {
    const r = new Reader(bytes, start, end, kind, version)
    // One of the Authenticate Reason Codes [MQTT-3.15.2-1].
    const tail = readTail(r, "Auth", "[MQTT-3.15.2-1]", false)
    if (tail instanceof DecodeError) return tail
    const packet: Auth = withProperties({ _tag: "Auth", reasonCode: tail.reasonCode }, tail.properties)
    const issue = methodError(packet)
    return issue === undefined ? packet : r.fail(issue)
  },
  error: (p) => {
    const issue = methodError(p)
    return issue === undefined ? propertiesError(p.properties, "Auth", "AUTH") : `AUTH ${issue}`
  }
})
