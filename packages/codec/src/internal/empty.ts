/**
 * The codec of the packets without a variable header or payload: PINGREQ, PINGRESP, and DISCONNECT
 * in MQTT 3.1.1. Their remaining length is 0.
 *
 * @since 0.3.0
 */
import { packetCodec } from "./PacketCodec.ts"
import type { PacketCodec, PacketKind } from "./PacketCodec.ts"
import type { DecodeError } from "../DecodeError.ts"
import type { ProtocolVersion } from "../packets/fields.ts"
import { decodeError } from "./Reader.ts"
import { rulesOf } from "./rules.ts"

/**
 * A `DecodeError` unless the body `[start, end)` is empty.
 *
 * @since 0.3.0
 */
export const emptyBodyError = (start: number, end: number, kind: PacketKind, version: ProtocolVersion): DecodeError | undefined =>
  end === start
    ? undefined
    : decodeError(`${kind.name} with remaining length ${end - start}, expected 0 ${rulesOf(version).remainingLength}`, kind.type)

/**
 * The codec of the empty packet `tag`.
 *
 * @since 0.3.0
 */
export const emptyCodec = <T extends string>(tag: T): PacketCodec<{ readonly _tag: T }> => {
  return packetCodec({
    size: () => 0,
    write: () => undefined,
    read: (_bytes, start, end, _flags, kind, version) => emptyBodyError(start, end, kind, version) ?? { _tag: tag },
    error: () => undefined
  })
}
