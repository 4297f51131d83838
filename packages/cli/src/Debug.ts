/**
 * `-d`/`--debug`: every packet sent and received, one line each on stderr, in the words of
 * `mosquitto_pub -d` / `mosquitto_sub -d` (`Client ID sending CONNECT`, `Client ID received CONNACK (0)`, ...).
 *
 * The lines come from the client's `onPacket` hook, whose CONNECT has no password; this module
 * prints no credential either (no user name, no password, not even whether one was sent).
 *
 * @since 0.2.0
 */
import type { ClientOptions } from "@aimeqtt/client"
import type { Packet, ProtocolVersion } from "@aimeqtt/codec"
import { Effect, Stdio, Stream } from "effect"

/** A `ClientOptions.onPacket` hook. @since 0.2.0 @category debug */
export type PacketObserver = NonNullable<ClientOptions["onPacket"]>

const bit = (flag: boolean): string => (flag ? "1" : "0")

/**
 * Describes a packet as `mosquitto -d` does, e.g. `PUBLISH (d0, q1, r0, m1, 'a/b', ... (5 bytes))`,
 * `PUBACK (Mid: 1, RC:0)` (received) or `PUBACK (m1, rc0)` (sent). Payloads are never shown, only their
 * length; CONNECT is only `CONNECT`.
 *
 * @since 0.2.0
 * @category debug
 */
export const describePacket = (packet: Packet<ProtocolVersion>, direction: "sent" | "received"): string => {
  const sent = direction === "sent"
  const rc = "reasonCode" in packet ? packet.reasonCode : 0
  switch (packet._tag) {
    case "Connect":
      return "CONNECT"
    case "Connack":
      return `CONNACK (${"returnCode" in packet ? packet.returnCode : packet.reasonCode})`
    case "Publish":
      return `PUBLISH (d${bit(packet.dup)}, q${packet.qos}, r${bit(packet.retain)}, m${packet.packetId ?? 0}, '${packet.topic}', ... (${packet.payload.length} bytes))`
    case "Puback":
      return sent ? `PUBACK (m${packet.packetId}, rc${rc})` : `PUBACK (Mid: ${packet.packetId}, RC:${rc})`
    case "Pubrec":
      return sent ? `PUBREC (m${packet.packetId}, rc${rc})` : `PUBREC (Mid: ${packet.packetId}${"reasonCode" in packet ? `, RC:${rc}` : ""})`
    case "Pubrel":
      return sent ? `PUBREL (m${packet.packetId})` : `PUBREL (Mid: ${packet.packetId})`
    case "Pubcomp":
      return sent ? `PUBCOMP (m${packet.packetId})` : `PUBCOMP (Mid: ${packet.packetId}, RC:${rc})`
    case "Subscribe":
      return `SUBSCRIBE (Mid: ${packet.packetId}, ${packet.subscriptions.map((s) => `Topic: ${s.filter}, QoS: ${s.qos}`).join(", ")})`
    case "Suback":
      return `SUBACK (Mid: ${packet.packetId}, granted: ${packet.returnCodes.join(", ")})`
    case "Unsubscribe":
      return `UNSUBSCRIBE (Mid: ${packet.packetId}, ${packet.filters.map((filter) => `Topic: ${filter}`).join(", ")})`
    case "Unsuback":
      return `UNSUBACK (Mid: ${packet.packetId})`
    case "Pingreq":
      return "PINGREQ"
    case "Pingresp":
      return "PINGRESP"
    case "Disconnect":
      return "reasonCode" in packet ? `DISCONNECT (${packet.reasonCode})` : "DISCONNECT"
    case "Auth":
      return `AUTH (${packet.reasonCode})`
  }
}

/**
 * An `onPacket` hook printing `Client ID sending|received PACKET` lines on stderr (the client id is
 * taken from the CONNECT it sees first). Write errors on stderr are ignored.
 *
 * @since 0.2.0
 * @category debug
 */
export const debugObserver = (stdio: Stdio.Stdio): PacketObserver => {
  let clientId = "(null)"
  return ({ direction, packet }) => {
    if (packet._tag === "Connect") clientId = packet.clientId
    const line = `Client ${clientId} ${direction === "sent" ? "sending" : "received"} ${describePacket(packet, direction)}\n`
    return Stream.run(Stream.succeed(line), stdio.stderr()).pipe(Effect.ignore)
  }
}

/** Calls every hook in turn (`undefined` when there is none). @since 0.2.0 @category debug */
export const combineObservers = (observers: ReadonlyArray<PacketObserver | undefined>): PacketObserver | undefined => {
  const present = observers.filter((observer): observer is PacketObserver => observer !== undefined)
  if (present.length <= 1) return present[0]
  return (event) => Effect.forEach(present, (observer) => Effect.exit(Effect.suspend(() => observer(event))), { discard: true })
}
