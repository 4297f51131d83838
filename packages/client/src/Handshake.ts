/**
 * The CONNECT/CONNACK handshake's decisions, as pure code: whether the broker accepted the connection and,
 * if it did, what the two sides agreed on ({@link Negotiated}). MQTT 3.1.1 negotiates nothing but the
 * session; MQTT 5.0's CONNACK carries the broker's limits and capabilities [MQTT-3.2.2.3], each with the
 * default the standard gives it when absent.
 *
 * No sockets, no clocks: `Connection` reads the CONNACK and acts on the answer.
 *
 * @since 0.3.0
 */
import { type Connack, type ProtocolVersion, type QoS, reasonCodeName, type UserProperties } from "@aimeqtt/codec"
import { ConnectionRefused, ProtocolError } from "./errors.ts"
import type { ConnectRequest } from "./Options.ts"

/**
 * What the client and the broker agreed on for one connection, exposed as `status`'s `Connected.negotiated`.
 * Under MQTT 3.1.1 every field has the value that means "no limit" (the protocol has no way to say more).
 *
 * @since 0.3.0
 * @category models
 */
export interface Negotiated {
  /** The protocol version of the connection: 4 (MQTT 3.1.1) or 5 (MQTT 5.0). */
  readonly protocolVersion: ProtocolVersion
  /**
   * The broker's Receive Maximum [MQTT-3.2.2.3.3]: QoS 1/2 publishes it accepts unacknowledged at once.
   * The client keeps at most the smaller of it and `maxInflight` in flight [MQTT-3.3.4-7]. Default 65535.
   */
  readonly receiveMaximum: number
  /**
   * The broker's Maximum Packet Size in bytes [MQTT-3.2.2.3.6]: a publish whose packet would be larger fails
   * with `PayloadTooLarge` before it is sent [MQTT-3.2.2-15]. `undefined`: no limit but the protocol's.
   */
  readonly maximumPacketSize: number | undefined
  /** The broker's Topic Alias Maximum [MQTT-3.2.2.3.8]: how many aliases the client may use. Default 0. */
  readonly topicAliasMaximum: number
  /** The keep-alive in force, in seconds: the broker's Server Keep Alive when it sent one [MQTT-3.2.2-21], else the client's. */
  readonly keepAlive: number
  /** The client identifier the broker assigned to a client that sent an empty one [MQTT-3.2.2.3.7]. */
  readonly assignedClientIdentifier?: string
  /** The highest QoS the broker accepts in a PUBLISH [MQTT-3.2.2.3.4]. Default 2. */
  readonly maximumQoS: QoS
  /** Whether the broker accepts retained messages [MQTT-3.2.2.3.5]. Default true. */
  readonly retainAvailable: boolean
  /** Whether the broker accepts filters with `+` and `#` [MQTT-3.2.2.3.11]. Default true. */
  readonly wildcardSubscriptionAvailable: boolean
  /** Whether the broker supports Subscription Identifiers [MQTT-3.2.2.3.12]. Default true in 5.0; false in 3.1.1. */
  readonly subscriptionIdentifiersAvailable: boolean
  /** Whether the broker supports shared subscriptions [MQTT-3.2.2.3.13]. Default true. */
  readonly sharedSubscriptionAvailable: boolean
  /**
   * Seconds the broker keeps the session after the connection closes: its own Session Expiry Interval
   * when it sent one [MQTT-3.2.2.3.2], else the client's. In 3.1.1: 0 for a clean session, else 0xFFFFFFFF.
   */
  readonly sessionExpiryInterval: number
  /** The broker's Response Information [MQTT-3.2.2.3.14], the basis of response topics (see `request`). */
  readonly responseInformation?: string
  /** The broker's Reason String and User Properties of its CONNACK, if any. */
  readonly reasonString?: string
  readonly userProperties?: UserProperties
}

/**
 * Decides on a CONNACK: a refusal (`ConnectionRefused`, with the code's standard wording), a broken rule
 * (`ProtocolError`), or what was negotiated.
 *
 * @since 0.3.0
 */
export const negotiate = (
  connect: ConnectRequest,
  connack: Connack<ProtocolVersion>
): Negotiated | ConnectionRefused | ProtocolError => {
  const version: ProtocolVersion = connect.protocolLevel === 5 ? 5 : 4
  if ("returnCode" in connack) {
    if (version === 5) return unsupportedVersion(connack.returnCode)
    if (connack.returnCode !== 0) return ConnectionRefused.fromReturnCode(connack.returnCode)
  } else if (connack.reasonCode >= 0x80) {
    const p = connack.properties
    return new ConnectionRefused({
      protocolVersion: 5,
      reasonCode: connack.reasonCode,
      reason: reasonCodeName("Connack", connack.reasonCode) ?? "Unspecified error",
      ...(p?.reasonString !== undefined ? { reasonString: p.reasonString } : {}),
      ...(p?.serverReference !== undefined ? { serverReference: p.serverReference } : {})
    })
  }
  // A new session was asked for: the broker cannot have one [MQTT-3.2.2-2] (3.1.1: [MQTT-3.2.2-1]).
  if (connect.cleanSession && connack.sessionPresent) {
    return new ProtocolError({
      message: `CONNACK says a session is present, but the client asked for a clean one ${version === 5 ? "[MQTT-3.2.2-2]" : "[MQTT-3.2.2-1]"}`
    })
  }
  const p = "reasonCode" in connack ? connack.properties : undefined
  const requested = "properties" in connect ? connect.properties : undefined
  if (version === 5 && connect.clientId === "" && p?.assignedClientIdentifier === undefined) {
    // The program would never learn who it is: a broker that accepts an empty id must name it [MQTT-3.2.2-16].
    return new ProtocolError({ message: "CONNACK has no Assigned Client Identifier for a CONNECT with an empty client id [MQTT-3.2.2-16]" })
  }
  return {
    protocolVersion: version,
    receiveMaximum: p?.receiveMaximum ?? 65535,
    maximumPacketSize: p?.maximumPacketSize,
    topicAliasMaximum: p?.topicAliasMaximum ?? 0,
    keepAlive: p?.serverKeepAlive ?? connect.keepAlive,
    ...(p?.assignedClientIdentifier !== undefined ? { assignedClientIdentifier: p.assignedClientIdentifier } : {}),
    maximumQoS: p?.maximumQoS ?? 2,
    retainAvailable: p?.retainAvailable ?? true,
    wildcardSubscriptionAvailable: p?.wildcardSubscriptionAvailable ?? true,
    subscriptionIdentifiersAvailable: version === 5 && (p?.subscriptionIdentifiersAvailable ?? true),
    sharedSubscriptionAvailable: p?.sharedSubscriptionAvailable ?? true,
    sessionExpiryInterval: p?.sessionExpiryInterval ?? requested?.sessionExpiryInterval ??
      (version === 4 && !connect.cleanSession ? 0xffffffff : 0),
    ...(p?.responseInformation !== undefined ? { responseInformation: p.responseInformation } : {}),
    ...(p?.reasonString !== undefined ? { reasonString: p.reasonString } : {}),
    ...(p?.userProperties !== undefined ? { userProperties: p.userProperties } : {})
  }
}

/**
 * An MQTT 3.1.1 CONNACK in answer to an MQTT 5.0 CONNECT: the broker does not speak 5.0. Return code 1 is
 * how a 3.1.1 server says so [MQTT-3.1.2-2]; 0 would be a broker that ignored the version.
 */
const unsupportedVersion = (returnCode: number): ConnectionRefused =>
  new ConnectionRefused({
    protocolVersion: 5,
    reasonCode: 0x84,
    reason: "Unsupported Protocol Version",
    reasonString: `the broker answered with an MQTT 3.1.1 CONNACK (return code ${returnCode}): it does not speak MQTT 5.0; ` +
      "connect with protocolVersion: 4"
  })

/**
 * The bytes of an MQTT 3.1.1 CONNACK (`20 02 flags code`) at the start of `chunk`, if they are one: what a
 * 3.1.1 broker answers to an MQTT 5.0 CONNECT, which the version 5 decoder rejects (return code 1 is no
 * MQTT 5.0 reason code).
 *
 * @since 0.3.0
 */
export const connack311 = (chunk: Uint8Array): Connack<4> | undefined => {
  if (chunk.length < 4 || chunk[0] !== 0x20 || chunk[1] !== 0x02) return undefined
  const flags = chunk[2] as number
  const code = chunk[3] as number
  if (flags > 1 || code > 5) return undefined
  return { _tag: "Connack", sessionPresent: flags === 1, returnCode: code as 0 | 1 | 2 | 3 | 4 | 5 }
}
