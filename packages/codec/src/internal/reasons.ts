/**
 * Reason codes on the wire in MQTT 5.0 [MQTT-2.4]: checked against Table 2-6 as they are read, and
 * the tail a reason code and properties make at the end of PUBACK, PUBREC, PUBREL, PUBCOMP,
 * DISCONNECT and AUTH, in the short forms the standard allows; the reason code list of SUBACK and
 * UNSUBACK.
 *
 * @since 0.3.0
 */
import { DecodeError } from "../DecodeError.ts"
import type { PropertiesOf } from "../Properties.ts"
import { isReasonCodeOf } from "../ReasonCode.ts"
import type { ReasonCodeCarrier, ReasonCodeOf } from "../ReasonCode.ts"
import { propertiesSize, readProperties, withProperties, writeProperties } from "./PropertyCodec.ts"
import type { Reader } from "./Reader.ts"

type TailCarrier = "Puback" | "Pubrec" | "Pubrel" | "Pubcomp" | "Disconnect" | "Auth"

/**
 * A reason code that `carrier` may not carry, as a message (e.g. "with reason code 0x05, not one of
 * its reason codes [MQTT-3.4.2-1]").
 *
 * @since 0.3.0
 */
export const reasonCodeMessage = (code: number, rule: string): string =>
  `with reason code 0x${code.toString(16).padStart(2, "0")}, not one of its reason codes ${rule}`

/**
 * Reads the rest of `r` as a list of reason codes of `carrier` (the payload of a SUBACK or
 * UNSUBACK), each checked against Table 2-6 as `rule` says.
 *
 * @since 0.3.0
 */
export const readReasonCodes = <C extends ReasonCodeCarrier>(
  r: Reader,
  carrier: C,
  rule: string
): Array<ReasonCodeOf<C>> | DecodeError => {
  const codes: Array<ReasonCodeOf<C>> = []
  for (let i = r.pos; i < r.end; i++) {
    const code = r.bytes[i] as number
    if (!isReasonCodeOf(carrier, code)) return r.fail(reasonCodeMessage(code, rule))
    // Checked against the table for `carrier` just above.
    codes.push(code as ReasonCodeOf<C>)
  }
  r.pos = r.end
  return codes
}

/**
 * Reads the properties, then the list of reason codes (the rest of `r`), of a SUBACK or UNSUBACK in
 * MQTT 5.0.
 *
 * @since 0.3.0
 */
export const readCodeList = <C extends "Suback" | "Unsuback">(
  r: Reader,
  carrier: C,
  rule: string
): { readonly codes: Array<ReasonCodeOf<C>>; readonly properties: PropertiesOf[C] | undefined } | DecodeError => {
  const properties = readProperties(r, carrier)
  if (properties instanceof DecodeError) return properties
  const codes = readReasonCodes(r, carrier, rule)
  return codes instanceof DecodeError ? codes : { codes, properties }
}

/**
 * The reason code and properties that end a PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT or AUTH in
 * MQTT 5.0.
 *
 * @since 0.3.0
 */
export interface ReasonTail<C extends TailCarrier> {
  readonly reasonCode: ReasonCodeOf<C>
  readonly properties?: PropertiesOf[C]
}

/**
 * Bytes of the tail in its shortest form: nothing for reason code 0 without properties; the reason
 * code alone when `codeOnly` allows it (not in AUTH) and there are no properties.
 *
 * @since 0.3.0
 */
export const tailSize = (code: number, properties: object | undefined, carrier: TailCarrier, codeOnly: boolean): number =>
  properties !== undefined ? 1 + propertiesSize(properties, carrier) : code === 0 ? 0 : codeOnly ? 1 : 2

/**
 * Writes the tail as {@link tailSize} sizes it; returns the position after it.
 *
 * @since 0.3.0
 */
export const writeTail = (
  out: Uint8Array,
  pos: number,
  code: number,
  properties: object | undefined,
  carrier: TailCarrier,
  codeOnly: boolean
): number => {
  if (properties === undefined && code === 0) return pos
  out[pos++] = code
  return properties === undefined && codeOnly ? pos : writeProperties(out, pos, properties, carrier)
}

/**
 * Reads the tail: the rest of `r`. An empty tail is reason code 0 without properties; a reason code
 * alone has no properties when `codeOnly` allows it. The reason code is checked against Table 2-6 as
 * `rule` says.
 *
 * @since 0.3.0
 */
export const readTail = <C extends TailCarrier>(
  r: Reader,
  carrier: C,
  rule: string,
  codeOnly: boolean
): ReasonTail<C> | DecodeError => {
  if (r.remaining === 0) return { reasonCode: 0 as ReasonCodeOf<C> }
  const code = r.u8()
  if (!isReasonCodeOf(carrier, code)) return r.fail(reasonCodeMessage(code, rule))
  // Checked against the table for `carrier` just above.
  const reasonCode = code as ReasonCodeOf<C>
  if (r.remaining === 0 && codeOnly) return { reasonCode }
  const properties = readProperties(r, carrier)
  if (properties instanceof DecodeError) return properties
  const tail: ReasonTail<C> = withProperties({ reasonCode }, properties)
  return r.done(tail)
}

