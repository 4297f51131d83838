/**
 * The MQTT 5.0 packets of the codec benchmark, as ours and as mqtt-packet objects. Properties are
 * listed in identifier order on the mqtt-packet side, the order both write, so both encode the same
 * bytes.
 *
 * @since 0.3.0
 */
import type { IConnectPacket, IPublishPacket, ISubackPacket } from "mqtt-packet"
import type { Packet } from "../src/index.ts"

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
const payload = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff))

/** A telemetry PUBLISH at QoS 1 with a topic alias and two user properties. */
export const publish: Packet<5> = {
  _tag: "Publish",
  topic: "sensors/building-7/floor-3/temperature",
  payload,
  qos: 1,
  retain: false,
  dup: false,
  packetId: 4242,
  properties: { topicAlias: 7, userProperties: [["trace-id", traceId], ["source", "sensor-17"]] }
}

export const peerPublish: IPublishPacket = {
  cmd: "publish",
  topic: "sensors/building-7/floor-3/temperature",
  payload,
  qos: 1,
  retain: false,
  dup: false,
  messageId: 4242,
  properties: { topicAlias: 7, userProperties: { "trace-id": traceId, source: "sensor-17" } }
}

const will = {
  topic: "clients/aimeqtt-bench-client-0001/status",
  payload: Buffer.from("offline"),
  qos: 1,
  retain: true,
  properties: { messageExpiryInterval: 3600, contentType: "text/plain", willDelayInterval: 5 }
} as const
const client = { clientId: "aimeqtt-bench-client-0001", username: "bench-user", password: Buffer.from("correct horse battery staple") }
const session = { sessionExpiryInterval: 86400, requestProblemInformation: true, receiveMaximum: 20, topicAliasMaximum: 16 }

/** A CONNECT with session, flow-control and user properties, and a will with its own properties. */
export const connect: Packet<5> = {
  _tag: "Connect",
  protocolLevel: 5,
  cleanSession: false,
  keepAlive: 60,
  ...client,
  will,
  properties: { ...session, userProperties: [["app", "bench"]], maximumPacketSize: 1048576 }
}

export const peerConnect: IConnectPacket = {
  cmd: "connect",
  protocolId: "MQTT",
  protocolVersion: 5,
  clean: false,
  keepalive: 60,
  ...client,
  will,
  properties: { ...session, userProperties: { app: "bench" }, maximumPacketSize: 1048576 }
}

const codes = [0x00, 0x01, 0x02, 0x80, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa2] as const

/** A SUBACK for ten filters: granted QoS and refusals. */
export const suback: Packet<5> = { _tag: "Suback", packetId: 17, returnCodes: codes }

export const peerSuback: ISubackPacket = { cmd: "suback", messageId: 17, granted: [...codes] }
