/**
 * Readers for CONNECT [MQTT-3.1] and CONNACK [MQTT-3.2].
 *
 * @since 0.1.0
 */
import type { DecodeError } from "../DecodeError.ts"
import type { Connack, Connect, ConnectReturnCode, QoS, Will } from "../Packet.ts"
import { topicNameShapeError } from "../Topic.ts"
import { Reader } from "./Reader.ts"

const CONNECT = 1
const CONNACK = 2

/** Only "MQTT" level 4 (3.1.1) and "MQIsdp" level 3 (3.1) are understood. */
const protocolError = (name: string, level: number): string =>
  `with protocol name ${JSON.stringify(name)} and level ${level}, expected "MQTT" level 4 or "MQIsdp" level 3 [MQTT-3.1.2-1][MQTT-3.1.2-2]`

/**
 * Decodes the body `bytes[start, end)` of a CONNECT. Binary fields are views of `bytes`.
 *
 * @since 0.1.0
 */
export const readConnect = (bytes: Uint8Array, start: number, end: number): Connect | DecodeError => {
  const r = new Reader(bytes, start, end, CONNECT)
  const name = r.string("protocol name")
  if (typeof name !== "string") return name
  const level = r.u8()
  if (level < 0) return r.pastEnd("protocol level", 1)
  if (!((name === "MQTT" && level === 4) || (name === "MQIsdp" && level === 3))) {
    return r.fail(protocolError(name, level))
  }
  const flags = r.u8()
  if (flags < 0) return r.pastEnd("connect flags", 1)
  if ((flags & 0x01) !== 0) return r.fail("with reserved connect flag bit 0 set [MQTT-3.1.2-3]")
  const willFlag = (flags & 0x04) !== 0
  const willQos = (flags >> 3) & 3
  const willRetain = (flags & 0x20) !== 0
  const hasPassword = (flags & 0x40) !== 0
  const hasUsername = (flags & 0x80) !== 0
  if (!willFlag) {
    if (willQos !== 0) return r.fail("with will QoS set but no will flag [MQTT-3.1.2-11][MQTT-3.1.2-13]")
    if (willRetain) return r.fail("with will retain set but no will flag [MQTT-3.1.2-11][MQTT-3.1.2-15]")
  } else if (willQos === 3) {
    return r.fail("with will QoS 3 [MQTT-3.1.2-14]")
  }
  if (hasPassword && !hasUsername) return r.fail("with a password but no user name [MQTT-3.1.2-22]")
  const keepAlive = r.u16()
  if (keepAlive < 0) return r.pastEnd("keep alive", 2)
  const clientId = r.string("client identifier")
  if (typeof clientId !== "string") return clientId
  const packet: {
    -readonly [K in keyof Connect]: Connect[K]
  } = {
    _tag: "Connect",
    protocolLevel: level === 4 ? 4 : 3,
    clientId,
    cleanSession: (flags & 0x02) !== 0,
    keepAlive
  }
  if (willFlag) {
    const topic = r.string("will topic")
    if (typeof topic !== "string") return topic
    const topicIssue = topicNameShapeError(topic)
    // The will topic is a topic name [MQTT-3.1.3-10]: no wildcards, not empty [MQTT-4.7] (the string
    // rules were checked on the bytes).
    if (topicIssue !== undefined) return r.fail(`with invalid will topic: ${topicIssue}`)
    const payload = r.binary("will message")
    if (!(payload instanceof Uint8Array)) return payload
    const will: Will = { topic, payload, qos: willQos as QoS, retain: willRetain }
    packet.will = will
  }
  if (hasUsername) {
    const username = r.string("user name")
    if (typeof username !== "string") return username
    packet.username = username
  }
  if (hasPassword) {
    const password = r.binary("password")
    if (!(password instanceof Uint8Array)) return password
    packet.password = password
  }
  return r.done(packet)
}

/**
 * Decodes the body `bytes[start, end)` of a CONNACK: exactly 2 bytes [MQTT-3.2.1].
 *
 * @since 0.1.0
 */
export const readConnack = (bytes: Uint8Array, start: number, end: number): Connack | DecodeError => {
  const r = new Reader(bytes, start, end, CONNACK)
  if (end - start !== 2) return r.fail(`with remaining length ${end - start}, expected 2 [MQTT-3.2.1]`)
  const ackFlags = bytes[start] as number
  const returnCode = bytes[start + 1] as number
  if ((ackFlags & 0xfe) !== 0) return r.fail("with reserved acknowledge flag bits set [MQTT-3.2.2.1]")
  if (returnCode > 5) return r.fail(`with reserved return code ${returnCode} [MQTT-3.2.2.3]`)
  const sessionPresent = ackFlags === 1
  // A refused connection has no session [MQTT-3.2.2-4].
  if (sessionPresent && returnCode !== 0) {
    return r.fail(`with session present and non-zero return code ${returnCode} [MQTT-3.2.2-4]`)
  }
  return { _tag: "Connack", sessionPresent, returnCode: returnCode as ConnectReturnCode }
}
