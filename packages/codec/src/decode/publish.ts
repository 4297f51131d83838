/**
 * Reader for PUBLISH [MQTT-3.3]. The flags were checked with the fixed header (QoS 3, DUP at QoS 0).
 *
 * @since 0.1.0
 */
import type { DecodeError } from "../DecodeError.ts"
import type { Publish, QoS } from "../Packet.ts"
import { topicNameShapeError } from "../Topic.ts"
import { Reader } from "./Reader.ts"

const PUBLISH = 3

/**
 * Decodes the body `bytes[start, end)` of a PUBLISH with fixed-header `flags`. The payload is a
 * `subarray` view of `bytes`, not a copy.
 *
 * @since 0.1.0
 */
export const readPublish = (bytes: Uint8Array, start: number, end: number, flags: number): Publish | DecodeError => {
  const r = new Reader(bytes, start, end, PUBLISH)
  const topic = r.string("topic name")
  if (typeof topic !== "string") return topic
  // Wildcards and empty topics are not topic names [MQTT-3.3.2-2]; the string rules were checked on the bytes.
  const topicIssue = topicNameShapeError(topic)
  if (topicIssue !== undefined) return r.fail(`with invalid topic name: ${topicIssue} [MQTT-3.3.2-2]`)
  const qos = ((flags >> 1) & 3) as QoS
  const retain = (flags & 1) !== 0
  const dup = (flags & 8) !== 0
  // The packet identifier is present only at QoS 1 and 2 [MQTT-2.3.1-5].
  if (qos === 0) {
    return { _tag: "Publish", topic, payload: bytes.subarray(r.pos, end), qos, retain, dup }
  }
  const packetId = r.packetId()
  if (typeof packetId !== "number") return packetId
  return { _tag: "Publish", topic, payload: bytes.subarray(r.pos, end), qos, retain, dup, packetId }
}
