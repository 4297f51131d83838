/**
 * CONNACK [MQTT-3.2]: the server's answer to a CONNECT. MQTT 3.1.1 has a return code (0 to 5);
 * MQTT 5.0 a reason code from Table 2-6, then properties.
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { reasonCodeMessage } from "../internal/reasons.ts"
import { packetCodec } from "../internal/PacketCodec.ts"
import type { PacketCodec } from "../internal/PacketCodec.ts"
import { propertiesError, propertiesSize, readProperties, withProperties, writeProperties } from "../internal/PropertyCodec.ts"
import { Reader } from "../internal/Reader.ts"
import { prefixed } from "../internal/senderRules.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { isReasonCodeOf, ReasonCodeSchema } from "../ReasonCode.ts"
import type { ReasonCodeOf } from "../ReasonCode.ts"
import type { ProtocolVersion } from "./fields.ts"

/**
 * CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3].
 *
 * @since 0.1.0
 * @category packets
 */
export const ConnectReturnCode = Schema.Literals([0, 1, 2, 3, 4, 5])
/**
 * @since 0.1.0
 * @category packets
 */
export type ConnectReturnCode = typeof ConnectReturnCode.Type

/**
 * CONNACK in MQTT 3.1.1 [MQTT-3.2].
 *
 * @since 0.1.0
 * @category packets
 */
export const Connack = Schema.Struct({
  _tag: Schema.tag("Connack"),
  sessionPresent: Schema.Boolean,
  returnCode: ConnectReturnCode
})

/**
 * CONNACK in MQTT 5.0 [MQTT-3.2]: `reasonCode` 0 is Success, 0x80 and above a refusal.
 *
 * @since 0.3.0
 * @category packets
 */
export const ConnackV5 = Schema.Struct({
  _tag: Schema.tag("Connack"),
  sessionPresent: Schema.Boolean,
  reasonCode: ReasonCodeSchema.Connack,
  properties: Schema.optionalKey(PropertiesSchema.Connack)
})

/**
 * A CONNACK of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type Connack<V extends ProtocolVersion = 4> = V extends 5 ? typeof ConnackV5.Type : typeof Connack.Type

type AnyConnack = Connack<ProtocolVersion>

/** The return code (3.1.1) or reason code (5.0) of `p`. */
const codeOf = (p: AnyConnack): number => ("reasonCode" in p ? p.reasonCode : p.returnCode)
const propertiesOf = (p: AnyConnack): PropertiesOf["Connack"] | undefined => ("properties" in p ? p.properties : undefined)

/** A refused connection has no session: [MQTT-3.2.2-4] in 3.1.1, [MQTT-3.2.2-6] in 5.0. */
const sessionError = (sessionPresent: boolean, code: number, version: ProtocolVersion): string | undefined => {
  if (!sessionPresent || code === 0) return undefined
  return version === 5
    ? `with session present and reason code 0x${code.toString(16)} [MQTT-3.2.2-6]`
    : `with session present and non-zero return code ${code} [MQTT-3.2.2-4]`
}

/** The codec of CONNACK, for the table of packet types. */
export const codec: PacketCodec<AnyConnack> = packetCodec({
  size: (p, version) => (version === 5 ? 2 + propertiesSize(propertiesOf(p), "Connack") : 2),
  write: (out, pos, p, version) => {
    out[pos] = p.sessionPresent ? 1 : 0
    out[pos + 1] = codeOf(p)
    if (version === 5) writeProperties(out, pos + 2, propertiesOf(p), "Connack")
  },
  read: (bytes, start, end, _flags, kind, version) => {
    const r = new Reader(bytes, start, end, kind, version)
    if (version === 4 && end - start !== 2) return r.fail(`with remaining length ${end - start}, expected 2 [MQTT-3.2.1]`)
    const ackFlags = r.u8()
    const code = r.u8()
    if (code < 0) return r.pastEnd("reason code", 1)
    // Bits 7-1 of the acknowledge flags are reserved [MQTT-3.2.2-1].
    if ((ackFlags & 0xfe) !== 0) return r.fail(`with reserved acknowledge flag bits set ${version === 5 ? "[MQTT-3.2.2-1]" : "[MQTT-3.2.2.1]"}`)
    const sessionPresent = ackFlags === 1
    if (version === 4) {
      if (code > 5) return r.fail(`with reserved return code ${code} [MQTT-3.2.2.3]`)
      const issue = sessionError(sessionPresent, code, version)
      return issue === undefined ? { _tag: "Connack", sessionPresent, returnCode: code as ConnectReturnCode } : r.fail(issue)
    }
    // One of the Connect Reason Codes [MQTT-3.2.2-8].
    if (!isReasonCodeOf("Connack", code)) return r.fail(reasonCodeMessage(code, "[MQTT-3.2.2-8]"))
    const issue = sessionError(sessionPresent, code, version)
    if (issue !== undefined) return r.fail(issue)
    const properties = readProperties(r, "Connack")
    if (properties instanceof DecodeError) return properties
    // Checked against the table just above.
    const reasonCode = code as ReasonCodeOf<"Connack">
    return r.done(withProperties({ _tag: "Connack", sessionPresent, reasonCode }, properties))
  },
  error: (p, version) =>
    prefixed("CONNACK ", sessionError(p.sessionPresent, codeOf(p), version)) ??
      (version === 5 ? propertiesError(propertiesOf(p), "Connack", "CONNACK") : undefined)
})
