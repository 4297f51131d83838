/**
 * mqtt-packet, the peer of the differential tests: parsing with it, and the fields that MQTT 3.1.1 and 5.0
 * packets share, between our shape and its (`clean`, `keepalive`, `messageId`, Buffers). What a version adds
 * (properties, reason codes, subscription options) each differential test maps itself.
 */
import mqttPacket from "mqtt-packet"
import type { IConnectPacket, IPublishPacket, Packet as PeerPacket } from "mqtt-packet"
import type { Packet, ProtocolVersion } from "../src/index.ts"

type Of<T extends Packet["_tag"]> = Extract<Packet<ProtocolVersion>, { readonly _tag: T }>
type PeerWill = NonNullable<IConnectPacket["will"]>

/** `bytes` as a Buffer over the same memory. */
export const buffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** mqtt-packet's bytes (a Buffer, or a string as UTF-8) as a Uint8Array of their own. */
export const bytesOf = (b: Buffer | string): Uint8Array => new Uint8Array(Buffer.from(b))

/** Parses `bytes` with mqtt-packet: the packets, or its first error. */
export const peerParse = (bytes: Uint8Array, protocolVersion: 4 | 5): Array<PeerPacket> | Error => {
  const packets: Array<PeerPacket> = []
  const errors: Array<Error> = []
  mqttPacket.parser({ protocolVersion }).on("packet", (p) => packets.push(p)).on("error", (e: Error) => errors.push(e))
    .parse(Buffer.from(bytes))
  return errors[0] ?? packets
}

/** A CONNECT's client id, session, keep alive and credentials, as mqtt-packet's (not its protocol, will or properties). */
export const connectToPeer = (p: Of<"Connect">): Pick<IConnectPacket, "clientId" | "clean" | "keepalive" | "username" | "password"> => ({
  clientId: p.clientId,
  clean: p.cleanSession,
  keepalive: p.keepAlive,
  ...(p.username === undefined ? {} : { username: p.username }),
  ...(p.password === undefined ? {} : { password: buffer(p.password) })
})

/** A will's topic, payload, QoS and retain flag, as mqtt-packet's. */
export const willToPeer = (will: NonNullable<Of<"Connect">["will"]>): Omit<PeerWill, "properties"> => ({
  topic: will.topic,
  payload: buffer(will.payload),
  qos: will.qos,
  retain: will.retain
})

/** A PUBLISH's fields but its properties, as mqtt-packet's. */
export const publishToPeer = (p: Of<"Publish">): Omit<IPublishPacket, "properties"> => ({
  cmd: "publish",
  topic: p.topic,
  payload: buffer(p.payload),
  qos: p.qos,
  retain: p.retain,
  dup: p.dup,
  ...(p.packetId === undefined ? {} : { messageId: p.packetId })
})

/** The CONNECT fields that {@link connectToPeer} maps, and the protocol level, in our shape. */
export const connectFromPeer = (p: IConnectPacket) => ({
  _tag: "Connect",
  protocolLevel: p.protocolVersion,
  clientId: p.clientId,
  cleanSession: p.clean,
  keepAlive: p.keepalive,
  ...(p.username === undefined ? {} : { username: p.username }),
  ...(p.password === undefined ? {} : { password: bytesOf(p.password) })
})

/** A will's topic, payload, QoS and retain flag, in our shape. */
export const willFromPeer = (will: PeerWill) => ({ topic: will.topic, payload: bytesOf(will.payload), qos: will.qos, retain: will.retain })

/** A PUBLISH's fields but its properties, in our shape. */
export const publishFromPeer = (p: IPublishPacket) => ({
  _tag: "Publish",
  topic: p.topic,
  payload: bytesOf(p.payload),
  qos: p.qos,
  retain: p.retain,
  dup: p.dup,
  ...(p.qos === 0 ? {} : { packetId: p.messageId })
})
