/**
 * Readers for SUBSCRIBE [MQTT-3.8], SUBACK [MQTT-3.9] and UNSUBSCRIBE [MQTT-3.10].
 *
 * @since 0.1.0
 */
import type { DecodeError } from "../DecodeError.ts"
import type { QoS, Suback, SubackReturnCode, Subscribe, SubscriptionRequest, Unsubscribe } from "../Packet.ts"
import { topicFilterShapeError } from "../Topic.ts"
import { Reader } from "./Reader.ts"

const SUBSCRIBE = 8
const SUBACK = 9
const UNSUBSCRIBE = 10

/** Reads a topic filter and checks it [MQTT-4.7.1][MQTT-4.7.3-1] (`r.string` checked the string rules on the bytes). */
const readFilter = (r: Reader): string | DecodeError => {
  const filter = r.string("topic filter")
  if (typeof filter !== "string") return filter
  const issue = topicFilterShapeError(filter)
  return issue === undefined ? filter : r.fail(`with invalid topic filter: ${issue}`)
}

/**
 * Decodes the body `bytes[start, end)` of a SUBSCRIBE.
 *
 * @since 0.1.0
 */
export const readSubscribe = (bytes: Uint8Array, start: number, end: number): Subscribe | DecodeError => {
  const r = new Reader(bytes, start, end, SUBSCRIBE)
  const packetId = r.packetId()
  if (typeof packetId !== "number") return packetId
  if (r.remaining === 0) return r.fail("without topic filters [MQTT-3.8.3-3]")
  const subscriptions: Array<SubscriptionRequest> = []
  while (r.remaining > 0) {
    const filter = readFilter(r)
    if (typeof filter !== "string") return filter
    const qos = r.u8()
    if (qos < 0) return r.pastEnd("requested QoS", 1)
    // Upper 6 bits are reserved and QoS 3 is not a QoS [MQTT-3.8.3-4] (printed "MQTT-3-8.3-4" in the spec).
    if (qos > 2) return r.fail(`with invalid requested QoS byte 0x${qos.toString(16).padStart(2, "0")} [MQTT-3.8.3-4]`)
    subscriptions.push({ filter, qos: qos as QoS })
  }
  return { _tag: "Subscribe", packetId, subscriptions }
}

/**
 * Decodes the body `bytes[start, end)` of a SUBACK.
 *
 * @since 0.1.0
 */
export const readSuback = (bytes: Uint8Array, start: number, end: number): Suback | DecodeError => {
  const r = new Reader(bytes, start, end, SUBACK)
  const packetId = r.packetId()
  if (typeof packetId !== "number") return packetId
  const returnCodes: Array<SubackReturnCode> = []
  for (let i = r.pos; i < end; i++) {
    const code = bytes[i] as number
    // Only 0x00, 0x01, 0x02 and 0x80 are allowed [MQTT-3.9.3-2].
    if (code > 2 && code !== 0x80) {
      return r.fail(`with reserved return code 0x${code.toString(16).padStart(2, "0")} [MQTT-3.9.3-2]`)
    }
    returnCodes.push(code as SubackReturnCode)
  }
  return { _tag: "Suback", packetId, returnCodes }
}

/**
 * Decodes the body `bytes[start, end)` of an UNSUBSCRIBE.
 *
 * @since 0.1.0
 */
export const readUnsubscribe = (bytes: Uint8Array, start: number, end: number): Unsubscribe | DecodeError => {
  const r = new Reader(bytes, start, end, UNSUBSCRIBE)
  const packetId = r.packetId()
  if (typeof packetId !== "number") return packetId
  if (r.remaining === 0) return r.fail("without topic filters [MQTT-3.10.3-2]")
  const filters: Array<string> = []
  while (r.remaining > 0) {
    const filter = readFilter(r)
    if (typeof filter !== "string") return filter
    filters.push(filter)
  }
  return { _tag: "Unsubscribe", packetId, filters }
}
