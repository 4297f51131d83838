/**
 * Issue 14, MQTT 5.0 in the client: what mosquitto 2.0.11 does not produce (it closes a taken-over session's
 * connection without DISCONNECT 0x8E, never refuses a PUBREC, never sends topic aliases), played by a
 * scripted broker whose packets the codec encodes. Each case waits on events, not on time.
 */
import { DecodeError, decodePacket, encode, type Packet, type PropertiesOf } from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Schedule, Stream, SubscriptionRef } from "effect"
import { type FakeConnection, FakeBroker, type FakeScript } from "./brokers/index.ts"
import { awaitStatus, client, collect, joinWithin } from "./util.ts"

type P5 = Packet<5>

const bytes = (packet: P5): Uint8Array => encode<5>(packet, { protocolVersion: 5 })
/** The client's packet, decoded; a malformed one fails the script (and so the test, through the broker's failures). */
const read = (raw: Uint8Array): Effect.Effect<P5, DecodeError> => {
  const packet = decodePacket<5>(raw, { protocolVersion: 5 })
  return packet instanceof DecodeError ? Effect.fail(packet) : Effect.succeed(packet)
}

/** A v5 broker: reads CONNECT, answers `connack`, then hands each packet (decoded) to `onPacket` until it says "close". */
const v5Broker = (
  onPacket: (conn: FakeConnection, packet: P5) => Effect.Effect<void | "close", unknown>,
  connack: { readonly reasonCode?: number; readonly properties?: PropertiesOf["Connack"]; readonly after?: ReadonlyArray<P5> } = {}
): FakeScript =>
(conn) =>
  Effect.gen(function*() {
    yield* read(yield* conn.readPacket)
    yield* conn.write(bytes({
      _tag: "Connack",
      sessionPresent: false,
      reasonCode: (connack.reasonCode ?? 0) as 0,
      ...(connack.properties !== undefined ? { properties: connack.properties } : {})
    }))
    for (const packet of connack.after ?? []) yield* conn.write(bytes(packet))
    while (true) {
      if ((yield* onPacket(conn, yield* read(yield* conn.readPacket))) === "close") return yield* conn.close
    }
  })

/** Answers SUBSCRIBE with `codes` (default: granted as asked) and PUBLISH as a plain broker would. */
const answer = (conn: FakeConnection, packet: P5, codes?: ReadonlyArray<number>) => {
  switch (packet._tag) {
    case "Subscribe":
      return conn.write(bytes({ _tag: "Suback", packetId: packet.packetId, returnCodes: (codes ?? packet.subscriptions.map((s) => s.qos)) as Array<0> }))
    case "Publish":
      if (packet.qos === 1) return conn.write(bytes({ _tag: "Puback", packetId: packet.packetId ?? 0, reasonCode: 0 }))
      if (packet.qos === 2) return conn.write(bytes({ _tag: "Pubrec", packetId: packet.packetId ?? 0, reasonCode: 0 }))
      return Effect.void
    case "Pubrel":
      return conn.write(bytes({ _tag: "Pubcomp", packetId: packet.packetId, reasonCode: 0 }))
    case "Pingreq":
      return conn.write(bytes({ _tag: "Pingresp" }))
    default:
      return Effect.void
  }
}

const v5 = { protocolVersion: 5 } as const

it.live("DISCONNECT 0x8E (session taken over): status names it, the client does not reconnect, streams fail with it", () =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start(v5Broker((conn, packet) =>
      packet._tag === "Subscribe"
        ? Effect.andThen(
          answer(conn, packet),
          conn.write(bytes({ _tag: "Disconnect", reasonCode: 0x8e, properties: { reasonString: "another client took the id" } }))
        )
        : answer(conn, packet)
    ))
    const mqtt = yield* client(broker.url, { ...v5, reconnect: Schedule.spaced("20 millis") })
    const seen: Array<string> = []
    yield* SubscriptionRef.changes(mqtt.status).pipe(
      Stream.runForEach((s) => Effect.sync(() => seen.push(s._tag === "Disconnected" ? `Disconnected:${s.cause?._tag}` : s._tag))),
      Effect.forkScoped({ startImmediately: true })
    )
    const stream = yield* mqtt.subscribe("t/#").pipe(Stream.runDrain, Effect.forkScoped({ startImmediately: true }))
    const ended = yield* Fiber.await(stream).pipe(Effect.timeout("5 seconds"))
    const error = Exit.isFailure(ended) ? Option.getOrUndefined(Exit.findErrorOption(ended)) : undefined
    assert.strictEqual(error?._tag, "DisconnectedByServer")
    if (error?._tag === "DisconnectedByServer") {
      assert.strictEqual(error.reasonCode, 0x8e)
      assert.strictEqual(error.reason, "Session taken over")
      assert.strictEqual(error.reasonString, "another client took the id")
      assert.include(error.message, "Session taken over")
    }
    const status = yield* SubscriptionRef.get(mqtt.status)
    assert.strictEqual(status._tag === "Disconnected" ? status.cause?._tag : status._tag, "DisconnectedByServer")
    const told = seen.filter((s) => s === "Disconnected:DisconnectedByServer")
    assert.strictEqual(told.length, 1, `the status says it once: ${seen.join(", ")}`)
    const publish = yield* Effect.flip(mqtt.publish("t/x", "late", { qos: 1 }))
    assert.strictEqual(publish._tag, "ClientClosed")
    assert.strictEqual(broker.connectionCount(), 1, "no reconnect after a final DISCONNECT")
  }))

it.live("DISCONNECT 0x8B (server shutting down): the client reconnects, and the status showed why", () =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start((conn) =>
      conn.index === 1
        ? v5Broker((c, p) => answer(c, p), { after: [{ _tag: "Disconnect", reasonCode: 0x8b }] })(conn)
        : v5Broker((c, p) => answer(c, p))(conn)
    )
    const seen: Array<string> = []
    const mqtt = yield* client(broker.url, { ...v5, reconnect: Schedule.spaced("20 millis") })
    yield* SubscriptionRef.changes(mqtt.status).pipe(
      Stream.runForEach((s) => Effect.sync(() => seen.push(s._tag === "Disconnected" ? `Disconnected:${s.cause?._tag}:${s.cause && "reasonCode" in s.cause ? s.cause.reasonCode : ""}` : s._tag))),
      Effect.forkScoped({ startImmediately: true })
    )
    yield* broker.awaitConnections(2)
    yield* awaitStatus(mqtt, (s) => s._tag === "Connected" && broker.connectionCount() === 2)
    assert.include(seen, `Disconnected:DisconnectedByServer:${0x8b}`)
  }))

it.live("an MQTT 3.1.1 broker answers the v5 CONNECT with return code 1: ConnectionRefused 0x84 that says to use protocolVersion 4", () =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start((conn) =>
      Effect.andThen(conn.readPacket, Effect.andThen(conn.write([0x20, 0x02, 0x00, 0x01]), conn.awaitClose))
    )
    const error = yield* Effect.flip(client(broker.url, v5))
    assert.strictEqual(error._tag, "ConnectionRefused")
    if (error._tag === "ConnectionRefused") {
      assert.strictEqual(error.reasonCode, 0x84)
      assert.include(error.message, "protocolVersion: 4")
      assert.isFalse(error.isRetryable)
    }
    assert.strictEqual(broker.connectionCount(), 1)
  }))

it.live("CONNACK refusal with a Reason String: ConnectionRefused carries both", () =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start(v5Broker(() => Effect.void, { reasonCode: 0x8c, properties: { reasonString: "use SCRAM" } }))
    const error = yield* Effect.flip(client(broker.url, v5))
    assert.strictEqual(error._tag, "ConnectionRefused")
    if (error._tag === "ConnectionRefused") {
      assert.strictEqual(error.reason, "Bad authentication method")
      assert.strictEqual(error.reasonString, "use SCRAM")
      assert.include(error.message, "use SCRAM")
    }
  }))

it.live("incoming topic aliases: set, then used with an empty topic; messages carry the topic, not the alias", () =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start(v5Broker((conn, packet) =>
      packet._tag === "Subscribe"
        ? Effect.gen(function*() {
          yield* answer(conn, packet)
          yield* conn.write(bytes({ _tag: "Publish", topic: "a/b", payload: new Uint8Array([1]), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } }))
          yield* conn.write(bytes({ _tag: "Publish", topic: "", payload: new Uint8Array([2]), qos: 1, packetId: 7, retain: false, dup: false, properties: { topicAlias: 3, contentType: "x" } }))
        })
        : answer(conn, packet)
    ))
    const mqtt = yield* client(broker.url, { ...v5, topicAliasMaximum: 5 })
    const messages = [...yield* joinWithin(yield* collect(mqtt.subscribe("a/#", { qos: 1 }), 2))]
    assert.deepStrictEqual(messages.map((m) => [m.topic, m.payload[0]]), [["a/b", 1], ["a/b", 2]])
    assert.deepStrictEqual(messages[1]?.properties, { contentType: "x" })
    assert.isUndefined(messages[0]?.properties, "an alias alone leaves no properties")
  }))

it.live("a topic alias above the client's maximum, or never set: a protocol error; the client says why in DISCONNECT (0x94, 0x82) and reconnects", () =>
  Effect.gen(function*() {
    const disconnects: Array<number> = []
    const broker = yield* FakeBroker.start((conn) =>
      v5Broker((c, packet) => {
        if (packet._tag === "Disconnect") {
          disconnects.push(packet.reasonCode)
          return Effect.succeed("close" as const)
        }
        if (packet._tag !== "Subscribe") return answer(c, packet)
        const alias = conn.index === 1 ? 9 : 2 // 9: above the maximum of 5; 2: never set
        return Effect.andThen(
          answer(c, packet),
          c.write(bytes({ _tag: "Publish", topic: "", payload: new Uint8Array(0), qos: 0, retain: false, dup: false, properties: { topicAlias: alias } }))
        )
      })(conn)
    )
    const mqtt = yield* client(broker.url, { ...v5, topicAliasMaximum: 5, reconnect: Schedule.spaced("20 millis") })
    yield* mqtt.subscribe("a/#").pipe(Stream.runDrain, Effect.forkScoped({ startImmediately: true }))
    yield* broker.awaitConnections(3)
    assert.deepStrictEqual(disconnects.slice(0, 2), [0x94, 0x82])
  }))

it.live("PUBACK 0x87 fails the publish with PublishRejected; PUBREC 0x97 too, and no PUBREL follows [MQTT-4.3.3]", () =>
  Effect.gen(function*() {
    const sent: Array<string> = []
    const broker = yield* FakeBroker.start(v5Broker((conn, packet) => {
      sent.push(packet._tag)
      if (packet._tag === "Publish" && packet.topic === "denied") {
        return conn.write(bytes({ _tag: "Puback", packetId: packet.packetId ?? 0, reasonCode: 0x87, properties: { reasonString: "ACL" } }))
      }
      if (packet._tag === "Publish" && packet.topic === "quota") return conn.write(bytes({ _tag: "Pubrec", packetId: packet.packetId ?? 0, reasonCode: 0x97 }))
      return answer(conn, packet)
    }))
    const mqtt = yield* client(broker.url, v5)
    const denied = yield* Effect.flip(mqtt.publish("denied", "x", { qos: 1 }))
    assert.strictEqual(denied._tag, "PublishRejected")
    if (denied._tag === "PublishRejected") {
      assert.strictEqual(denied.reasonCode, 0x87)
      assert.strictEqual(denied.reason, "Not authorized")
      assert.strictEqual(denied.reasonString, "ACL")
      assert.isFalse(denied.isRetryable)
    }
    const quota = yield* Effect.flip(mqtt.publish("quota", "x", { qos: 2 }))
    assert.strictEqual(quota._tag, "PublishRejected")
    if (quota._tag === "PublishRejected") assert.isTrue(quota.isRetryable, "Quota exceeded may pass later")
    yield* mqtt.publish("fine", "x", { qos: 2 }) // the session goes on
    assert.deepStrictEqual(sent.filter((t) => t === "Pubrel").length, 1, "a PUBREL only for the accepted QoS 2 publish")
  }))

it.live("SUBACK reason codes: SubscriptionRejected names each refused filter's code; the granted one works", () =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start(v5Broker((conn, packet) =>
      packet._tag === "Subscribe"
        ? answer(conn, packet, packet.subscriptions.map((s) => (s.filter.startsWith("$share") ? 0x9e : s.filter === "secret" ? 0x87 : s.qos)))
        : answer(conn, packet)
    ))
    const mqtt = yield* client(broker.url, v5)
    const error = yield* Effect.flip(mqtt.subscribe(["ok", "secret", "$share/g/x"]).pipe(Stream.runDrain))
    assert.strictEqual(error._tag, "SubscriptionRejected")
    if (error._tag === "SubscriptionRejected") {
      assert.deepStrictEqual(error.filters, ["secret", "$share/g/x"])
      assert.deepStrictEqual(error.reasonCodes, [0x87, 0x9e])
      assert.include(error.message, "Not authorized")
      assert.include(error.message, "Shared Subscriptions not supported")
    }
  }))

it.live("what CONNACK says the broker lacks fails typed before sending: Maximum QoS, Retain Available, wildcard and shared subscriptions", () =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    const broker = yield* FakeBroker.start(v5Broker((conn, packet) => {
      seen.push(packet._tag)
      return answer(conn, packet)
    }, { properties: { maximumQoS: 1, retainAvailable: false, wildcardSubscriptionAvailable: false, sharedSubscriptionAvailable: false } }))
    const mqtt = yield* client(broker.url, v5)
    const qos = yield* Effect.flip(mqtt.publish("t", "x", { qos: 2 }))
    assert.strictEqual(qos._tag === "UnsupportedByServer" ? qos.feature : qos._tag, "qos")
    assert.include(qos.message, "Maximum QoS")
    const retain = yield* Effect.flip(mqtt.publish("t", "x", { retain: true }))
    assert.strictEqual(retain._tag === "UnsupportedByServer" ? retain.feature : retain._tag, "retain")
    const wildcard = yield* Effect.flip(mqtt.subscribe("a/+").pipe(Stream.runDrain))
    assert.strictEqual(wildcard._tag === "UnsupportedByServer" ? wildcard.feature : wildcard._tag, "wildcard-subscriptions")
    const shared = yield* Effect.flip(mqtt.subscribe("$share/g/a").pipe(Stream.runDrain))
    assert.strictEqual(shared._tag === "UnsupportedByServer" ? shared.feature : shared._tag, "shared-subscriptions")
    yield* mqtt.publish("t", "x", { qos: 1 })
    assert.deepStrictEqual(seen, ["Publish"], "nothing of the refused requests reached the broker")
  }))

it.live("a CONNACK with Session Present for a clean start breaks [MQTT-3.2.2-2]: the connection is refused as a protocol error", () =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start((conn) =>
      Effect.gen(function*() {
        yield* conn.readPacket
        yield* conn.write(bytes({ _tag: "Connack", sessionPresent: true, reasonCode: 0 }))
        yield* conn.awaitClose
      })
    )
    const error = yield* Effect.flip(client(broker.url, { ...v5, connectRetry: false }))
    assert.strictEqual(error._tag, "ConnectError")
    assert.include(error.message, "[MQTT-3.2.2-2]")
  }))

it.live("outgoing topic aliases (topicAliases: \"auto\"): on the wire, the topic once with its alias, then the alias alone; a new connection starts afresh", () =>
  Effect.gen(function*() {
    const seen: Array<[number, string, number | undefined]> = []
    const broker = yield* FakeBroker.start((conn) =>
      v5Broker((c, packet) => {
        if (packet._tag === "Publish") {
          seen.push([conn.index, packet.topic, "properties" in packet ? packet.properties?.topicAlias : undefined])
          if (conn.index === 1 && seen.length === 3) return Effect.succeed("close" as const)
        }
        return answer(c, packet)
      }, { properties: { topicAliasMaximum: 4 } })(conn)
    )
    const mqtt = yield* client(broker.url, { ...v5, topicAliases: "auto", reconnect: Schedule.spaced("20 millis") })
    for (const n of [1, 2, 3, 4]) yield* mqtt.publish("sensors/kitchen/temperature", `${n}`, { qos: 1 })
    assert.deepStrictEqual(seen, [
      [1, "sensors/kitchen/temperature", 1],
      [1, "", 1],
      [1, "", 1],
      [2, "sensors/kitchen/temperature", 1], // the third was re-sent on the new connection with its topic
      [2, "", 1]
    ])
  }))

describe("MQTT 5.0 enhanced authentication [MQTT-4.12]", () => {
  const text = (data: Uint8Array | undefined) => (data === undefined ? "" : new TextDecoder().decode(data))
  const bin = (s: string) => new TextEncoder().encode(s)
  const method = "TEST-CHALLENGE"
  const authentication = (serverFinal = "server-final") => ({
    method,
    start: Effect.succeed(bin("client-first")),
    continue: (challenge: Uint8Array | undefined) => Effect.succeed(bin(`${text(challenge)}:answered`)),
    finish: (data: Uint8Array | undefined) => (text(data) === serverFinal ? Effect.void : Effect.fail(new Error(`bad server signature ${text(data)}`)))
  })

  /** A broker that challenges once, checks the answer, and (when `reauth`) answers a re-authentication. */
  const challenger = (log: Array<string>, serverFinal = "server-final"): FakeScript => (conn) =>
    Effect.gen(function*() {
      const connect = yield* read(yield* conn.readPacket)
      const p = connect._tag === "Connect" ? connect.properties : undefined
      log.push(`CONNECT ${p?.authenticationMethod} ${text(p?.authenticationData)}`)
      const challenge = (round: string) => conn.write(bytes({ _tag: "Auth", reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: bin(round) } }))
      yield* challenge("nonce-1")
      const answer1 = yield* read(yield* conn.readPacket)
      log.push(`AUTH ${answer1._tag === "Auth" ? `${answer1.reasonCode} ${text(answer1.properties?.authenticationData)}` : answer1._tag}`)
      yield* conn.write(bytes({ _tag: "Connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: method, authenticationData: bin(serverFinal) } }))
      while (true) {
        const packet = yield* read(yield* conn.readPacket)
        if (packet._tag === "Auth" && packet.reasonCode === 0x19) {
          log.push(`REAUTH ${text(packet.properties?.authenticationData)}`)
          yield* challenge("nonce-2")
        } else if (packet._tag === "Auth" && packet.reasonCode === 0x18) {
          log.push(`AUTH ${packet.reasonCode} ${text(packet.properties?.authenticationData)}`)
          yield* conn.write(bytes({ _tag: "Auth", reasonCode: 0, properties: { authenticationMethod: method, authenticationData: bin(serverFinal) } }))
        } else if (packet._tag === "Disconnect") {
          return yield* conn.close
        } else {
          yield* answer(conn, packet)
        }
      }
    })

  it.live("a challenge/response before CONNACK, the broker's final data checked; then re-authentication on demand", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const broker = yield* FakeBroker.start(challenger(log))
      const mqtt = yield* client(broker.url, { ...v5, authentication: authentication() })
      assert.deepStrictEqual(log, [`CONNECT ${method} client-first`, "AUTH 24 nonce-1:answered"])
      yield* mqtt.reauthenticate
      assert.deepStrictEqual(log.slice(2), ["REAUTH client-first", "AUTH 24 nonce-2:answered"])
      yield* mqtt.publish("after/reauth", "x", { qos: 1 }) // the connection goes on
      assert.strictEqual(broker.connectionCount(), 1)
    }))

  it.live("the broker's final data does not verify: the layer fails at once with AuthenticationFailed as the cause (not retried)", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(challenger([], "forged"))
      const error = yield* Effect.flip(client(broker.url, { ...v5, authentication: authentication("server-final") }))
      assert.strictEqual(error._tag, "ConnectError")
      if (error._tag === "ConnectError") {
        assert.isFalse(error.isRetryable)
        assert.include(error.message, "finish")
      }
      assert.strictEqual(broker.connectionCount(), 1)
    }))

  it.live("AUTH from a broker the client asked for no enhanced authentication is a protocol error", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(challenger([]))
      const error = yield* Effect.flip(client(broker.url, { ...v5, connectRetry: false }))
      assert.strictEqual(error._tag, "ConnectError")
      assert.include(error.message, "[MQTT-4.12.0-6]")
    }))

  it.live("authentication under MQTT 3.1.1 fails with InvalidOptions; reauthenticate without it fails typed", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(v5Broker((conn, packet) => answer(conn, packet)))
      const invalid = yield* Effect.flip(client(broker.url, { authentication: authentication() }))
      assert.strictEqual(invalid._tag, "InvalidOptions")
      const mqtt = yield* client(broker.url, v5)
      const error = yield* Effect.flip(mqtt.reauthenticate)
      assert.strictEqual(error._tag, "AuthenticationFailed")
    }))
})

describe("MQTT 5.0 Server Reference [MQTT-4.11]", () => {
  const refusing = (reference: string): FakeScript => (conn) =>
    Effect.gen(function*() {
      yield* conn.readPacket
      yield* conn.write(bytes({ _tag: "Connack", sessionPresent: false, reasonCode: 0x9c, properties: { serverReference: reference } }))
      yield* conn.awaitClose
    })

  it.live("CONNACK 0x9C Use another server: by default the layer fails with the reference; with followServerReference it connects there", () =>
    Effect.gen(function*() {
      const target = yield* FakeBroker.start(v5Broker((conn, packet) => answer(conn, packet)))
      const origin = yield* FakeBroker.start(refusing(`127.0.0.1:${target.port}`))
      const refused = yield* Effect.flip(client(origin.url, v5))
      assert.strictEqual(refused._tag, "ConnectionRefused")
      if (refused._tag === "ConnectionRefused") {
        assert.strictEqual(refused.serverReference, `127.0.0.1:${target.port}`)
        assert.isFalse(refused.isRetryable)
      }
      assert.strictEqual(target.connectionCount(), 0)
      const mqtt = yield* client(origin.url, { ...v5, followServerReference: true, connectRetry: false })
      yield* mqtt.publish("moved", "x", { qos: 1 })
      assert.strictEqual(target.connectionCount(), 1)
    }))

  it.live("DISCONNECT 0x9D Server moved: with followServerReference the client reconnects to the new server", () =>
    Effect.gen(function*() {
      const target = yield* FakeBroker.start(v5Broker((conn, packet) => answer(conn, packet)))
      const origin = yield* FakeBroker.start(v5Broker((c, p) => answer(c, p), {
        after: [{ _tag: "Disconnect", reasonCode: 0x9d, properties: { serverReference: `localhost:${target.port}` } }]
      }))
      const mqtt = yield* client(origin.url, { ...v5, followServerReference: true, reconnect: Schedule.spaced("20 millis") })
      yield* target.awaitConnections(1)
      yield* awaitStatus(mqtt, (s) => s._tag === "Connected" && target.connectionCount() === 1)
      yield* mqtt.publish("moved", "x", { qos: 1 })
    }))
})

it.live("publish properties that break the rules fail with InvalidOptions naming them, before anything is sent", () =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    const broker = yield* FakeBroker.start(v5Broker((conn, packet) => {
      seen.push(packet._tag)
      return answer(conn, packet)
    }))
    const mqtt = yield* client(broker.url, v5)
    const notText = yield* Effect.flip(mqtt.publish("t", new Uint8Array([0xff, 0xfe]), { properties: { payloadFormatIndicator: true } }))
    assert.strictEqual(notText._tag, "InvalidOptions")
    assert.include(notText.message, "payloadFormatIndicator")
    const wildcard = yield* Effect.flip(mqtt.publish("t", "x", { properties: { responseTopic: "replies/#" } }))
    assert.strictEqual(wildcard._tag, "InvalidOptions")
    assert.include(wildcard.message, "responseTopic")
    const badUser = yield* Effect.flip(mqtt.publish("t", "x", { properties: { userProperties: [["k", "\u0000"]] } }))
    assert.strictEqual(badUser._tag, "InvalidOptions")
    yield* mqtt.publish("t", "é", { qos: 1, properties: { payloadFormatIndicator: true } })
    assert.deepStrictEqual(seen, ["Publish"])
  }))
