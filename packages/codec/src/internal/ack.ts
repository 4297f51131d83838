/**
 * The codec shared by PUBACK, PUBREC, PUBREL and PUBCOMP, which differ only in their name, flags and
 * reason codes. MQTT 3.1.1: a packet identifier and nothing else. MQTT 5.0: a packet identifier, a
 * reason code and properties, in the shortest of the three forms the standard allows: remaining
 * length 2 (reason code 0, no properties), 3 (no properties) or more [MQTT-3.4.2-1].
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { DecodeError } from "../DecodeError.ts"
import { PacketId } from "../packets/fields.ts"
import { PropertiesSchema } from "../Properties.ts"
import type { PropertiesOf } from "../Properties.ts"
import { ReasonCodeSchema } from "../ReasonCode.ts"
import type { ReasonCodeOf } from "../ReasonCode.ts"
import { packetCodec } from "./PacketCodec.ts"
import type { PacketCodec, PacketKind } from "./PacketCodec.ts"
import { propertiesError, withProperties } from "./PropertyCodec.ts"
import { readTail, tailSize, writeTail } from "./reasons.ts"
import { decodeError, Reader } from "./Reader.ts"
import { rulesOf } from "./rules.ts"
import { writeU16 } from "./Writer.ts"

/**
 * The acknowledgements of a PUBLISH.
 *
 * @since 0.3.0
 */
export type AckTag = "Puback" | "Pubrec" | "Pubrel" | "Pubcomp"

/**
 * An acknowledgement in MQTT 3.1.1.
 *
 * @since 0.3.0
 */
export interface Ack4<T extends AckTag> {
  readonly _tag: T
  readonly packetId: number
}

/**
 * An acknowledgement in MQTT 5.0.
 *
 * @since 0.3.0
 */
export interface Ack5<T extends AckTag, R extends number> extends Ack4<T> {
  readonly reasonCode: R
  readonly properties?: PropertiesOf[T]
}

/**
 * The models of the acknowledgement `tag`: in MQTT 3.1.1 a packet identifier; in MQTT 5.0 also a
 * reason code of its own (Table 2-6) and its properties (Table 2-4).
 *
 * @since 0.3.0
 */
export const ackModels = <T extends AckTag>(tag: T) => {
  const v4 = Schema.Struct({ _tag: Schema.tag(tag), packetId: PacketId })
  const v5 = Schema.Struct({
    ...v4.fields,
    reasonCode: ReasonCodeSchema[tag],
    properties: Schema.optionalKey(PropertiesSchema[tag])
  })
  return { v4, v5 }
}

/**
 * Reads a body that is exactly a non-zero packet identifier: the MQTT 3.1.1 acknowledgements.
 *
 * @since 0.3.0
 */
export const readPacketIdOnly = (
  bytes: Uint8Array,
  start: number,
  end: number,
  kind: PacketKind
): number | DecodeError => {
  const packetId = ((bytes[start] as number) << 8) | (bytes[start + 1] as number)
  return end - start === 2 && packetId !== 0 ? packetId : idOnlyError(packetId, start, end, kind)
}

/** Why a body is not a non-zero packet identifier (worded apart from the hot path). */
const idOnlyError = (packetId: number, start: number, end: number, kind: PacketKind): DecodeError =>
  end - start !== 2
    ? decodeError(`${kind.name} with remaining length ${end - start}, expected 2 ${rulesOf(4).remainingLength}`, kind.type)
    : decodeError(`${kind.name} with packet identifier 0 ${rulesOf(4).packetId}`, kind.type)

/**
 * The codec of the acknowledgement `tag`, whose reason codes are those Table 2-6 gives it, checked
 * as `rule` says (e.g. "[MQTT-3.4.2-1]").
 *
 * @since 0.3.0
 */
export const ackCodec = <T extends AckTag>(
  tag: T,
  rule: string
): PacketCodec<Ack4<T> | Ack5<T, ReasonCodeOf<T>>> => {
  const reason = (p: Ack4<T> | Ack5<T, ReasonCodeOf<T>>): number => ("reasonCode" in p ? p.reasonCode : 0)
  const properties = (p: Ack4<T> | Ack5<T, ReasonCodeOf<T>>): PropertiesOf[T] | undefined =>
    "properties" in p ? p.properties : undefined
  return packetCodec({
    idOnly4: true,
    size: (p, version) => (version === 4 ? 2 : 2 + tailSize(reason(p), properties(p), tag, true)),
    write: (out, pos, p, version) => {
      pos = writeU16(out, pos, p.packetId)
      if (version === 5) writeTail(out, pos, reason(p), properties(p), tag, true)
    },
    read: (bytes, start, end, _flags, kind, version) => {
      if (version === 4) {
        const packetId = readPacketIdOnly(bytes, start, end, kind)
        return typeof packetId === "number" ? { _tag: tag, packetId } : packetId
      }
      const r = new Reader(bytes, start, end, kind, version)
      const packetId = r.packetId()
      if (typeof packetId !== "number") return packetId
      // Remaining length 2: Success, no properties; 3: no Property Length [MQTT-3.4.2-1].
      const tail = readTail(r, tag, rule, true)
      if (tail instanceof DecodeError) return tail
      return withProperties({ _tag: tag, packetId, reasonCode: tail.reasonCode }, tail.properties)
    },
    error: (p, version) => (version === 4 ? undefined : propertiesError(properties(p), tag, tag.toUpperCase()))
  })
}
