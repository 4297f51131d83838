/**
 * Dispatches the body of a packet, after its fixed header, to the reader of its type. Also holds the
 * readers of the fixed-size packets: the acknowledgements with only a packet identifier, and the
 * empty PINGREQ, PINGRESP and DISCONNECT.
 *
 * @since 0.1.0
 */
import type { DecodeError } from "../DecodeError.ts"
import type { Packet } from "../Packet.ts"
import { readConnack, readConnect } from "./connect.ts"
import { readPublish } from "./publish.ts"
import { decodeError, packetName } from "./Reader.ts"
import { readSuback, readSubscribe, readUnsubscribe } from "./subscribe.ts"

type IdOnlyTag = "Puback" | "Pubrec" | "Pubrel" | "Pubcomp" | "Unsuback"
type EmptyTag = "Pingreq" | "Pingresp" | "Disconnect"

/** PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a non-zero packet identifier and nothing else. */
const readIdOnly = (
  _tag: IdOnlyTag,
  type: number,
  bytes: Uint8Array,
  start: number,
  end: number
): Packet | DecodeError => {
  if (end - start !== 2) {
    return decodeError(`${packetName(type)} with remaining length ${end - start}, expected 2 [MQTT-2.2.3]`, type)
  }
  const packetId = ((bytes[start] as number) << 8) | (bytes[start + 1] as number)
  if (packetId === 0) return decodeError(`${packetName(type)} with packet identifier 0 [MQTT-2.3.1-1]`, type)
  return { _tag, packetId }
}

/** PINGREQ, PINGRESP, DISCONNECT: no variable header, no payload. */
const readEmpty = (_tag: EmptyTag, type: number, start: number, end: number): Packet | DecodeError =>
  end === start
    ? { _tag }
    : decodeError(`${packetName(type)} with remaining length ${end - start}, expected 0 [MQTT-2.2.3]`, type)

/**
 * Decodes the body `bytes[start, end)` of a packet of `type` with fixed-header `flags`, which
 * {@link readFixedHeader} already checked.
 *
 * @since 0.1.0
 */
export const readBody = (
  type: number,
  flags: number,
  bytes: Uint8Array,
  start: number,
  end: number
): Packet | DecodeError => {
  switch (type) {
    case 1:
      return readConnect(bytes, start, end)
    case 2:
      return readConnack(bytes, start, end)
    case 3:
      return readPublish(bytes, start, end, flags)
    case 4:
      return readIdOnly("Puback", type, bytes, start, end)
    case 5:
      return readIdOnly("Pubrec", type, bytes, start, end)
    case 6:
      return readIdOnly("Pubrel", type, bytes, start, end)
    case 7:
      return readIdOnly("Pubcomp", type, bytes, start, end)
    case 8:
      return readSubscribe(bytes, start, end)
    case 9:
      return readSuback(bytes, start, end)
    case 10:
      return readUnsubscribe(bytes, start, end)
    case 11:
      return readIdOnly("Unsuback", type, bytes, start, end)
    case 12:
      return readEmpty("Pingreq", type, start, end)
    case 13:
      return readEmpty("Pingresp", type, start, end)
    case 14:
      return readEmpty("Disconnect", type, start, end)
    default:
      return decodeError(`reserved packet type ${type} [MQTT-2.2.1]`, type)
  }
}
