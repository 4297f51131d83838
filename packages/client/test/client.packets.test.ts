/**
 * `ClientOptions.onPacket` against a real mosquitto with a password file: every packet is reported in
 * wire order, the CONNECT it reports carries no password (while the broker got it and accepted it),
 * and a broken hook (a throw, a failure, a defect) never ends the connection.
 */
import type { ClientOptions } from "@aimeqtt/client"
import type { Packet as VersionedPacket, ProtocolVersion } from "@aimeqtt/codec"

type Packet = VersionedPacket<ProtocolVersion>
import { assert, it } from "@effect/vitest"
import { Effect, Redacted, SubscriptionRef } from "effect"
import { describeMosquitto, Mosquitto, type MosquittoBroker, mosquittoPub } from "./brokers/index.ts"
import { client, collect, joinWithin, uniqueId, waitUntil } from "./util.ts"

const PASSWORD = "pw-Zq9-onPacket"

interface Seen {
  readonly direction: "sent" | "received"
  readonly packet: Packet
}

/** A hook recording every event, and the list it fills. */
const recorder = () => {
  const seen: Array<Seen> = []
  const onPacket: NonNullable<ClientOptions["onPacket"]> = (event) => Effect.sync(() => seen.push(event))
  return { seen, onPacket }
}

const tags = (seen: ReadonlyArray<Seen>) => seen.map((e) => `${e.direction} ${e.packet._tag}`)

/** Everything the hook saw, as text: no field, key or byte of it may hold the password. */
const dump = (seen: ReadonlyArray<Seen>): string =>
  JSON.stringify(seen, (_key, value: unknown) => (value instanceof Uint8Array ? new TextDecoder().decode(value) : value))

const awaitLog = (broker: MosquittoBroker, match: (line: string) => boolean) =>
  waitUntil(() => broker.logText().split("\n").some(match), 5000, () => `a matching log line in:\n${broker.logText()}`)

describeMosquitto("ClientOptions.onPacket against mosquitto", () => {
  it.live("reports CONNECT/CONNACK/PUBLISH/PUBACK in order; the CONNECT it reports has no password, the broker got it", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ users: { alice: PASSWORD } })
      const { seen, onPacket } = recorder()
      const id = uniqueId("packets")
      const mqtt = yield* client(broker.url, { clientId: id, username: "alice", password: Redacted.make(PASSWORD), onPacket })
      // accepted with allow_anonymous false: mosquitto checked the password it received
      yield* awaitLog(broker, (l) => l.includes(`as ${id}`) && l.includes("u'alice'"))
      yield* mqtt.publish("packets/a", "hello", { qos: 1 })

      assert.deepStrictEqual(tags(seen).slice(0, 4), ["sent Connect", "received Connack", "sent Publish", "received Puback"])
      const connect = seen[0]?.packet
      if (connect?._tag !== "Connect") return assert.fail(`expected CONNECT first, got ${tags(seen).join(", ")}`)
      assert.strictEqual(connect.clientId, id)
      assert.strictEqual(connect.username, "alice")
      assert.isFalse("password" in connect, "the reported CONNECT has a password field")
      const connack = seen[1]?.packet
      assert.deepStrictEqual(connack, { _tag: "Connack", sessionPresent: false, returnCode: 0 })
      const publish = seen[2]?.packet
      if (publish?._tag !== "Publish") return assert.fail("expected PUBLISH")
      assert.strictEqual(publish.topic, "packets/a")
      assert.strictEqual(new TextDecoder().decode(publish.payload), "hello")
      assert.strictEqual(publish.qos, 1)
      const puback = seen[3]?.packet
      assert.deepStrictEqual(puback, { _tag: "Puback", packetId: publish.packetId ?? -1 })
      assert.notInclude(dump(seen), PASSWORD)
    }))

  it.live("the password from the URL is not reported either; received PUBLISH and sent PUBACK of a subscription", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ users: { alice: PASSWORD } })
      const { seen, onPacket } = recorder()
      const mqtt = yield* client(`mqtt://alice:${encodeURIComponent(PASSWORD)}@127.0.0.1:${broker.port}`, { onPacket })
      const messages = yield* collect(mqtt.subscribe("packets/in", { qos: 1 }), 1)
      yield* waitUntil(() => seen.some((e) => e.packet._tag === "Suback"), 5000, () => tags(seen).join(", "))
      yield* mosquittoPub({ port: broker.port, topic: "packets/in", message: "from outside", qos: 1, username: "alice", password: PASSWORD })
      const [message] = yield* joinWithin(messages)
      assert.strictEqual(message?.text, "from outside")
      yield* waitUntil(() => seen.some((e) => e.direction === "sent" && e.packet._tag === "Puback"), 5000, () => tags(seen).join(", "))
      // The stream ended after its one message: its UNSUBSCRIBE (unsubscribeOnEnd) may already be out too.
      const order = tags(seen).filter((t) =>
        t !== "sent Pingreq" && t !== "received Pingresp" && t !== "sent Unsubscribe" && t !== "received Unsuback"
      )
      assert.deepStrictEqual(order, [
        "sent Connect",
        "received Connack",
        "sent Subscribe",
        "received Suback",
        "received Publish",
        "sent Puback"
      ])
      const connect = seen[0]?.packet
      assert.isTrue(connect?._tag === "Connect" && !("password" in connect) && connect.username === "alice")
      assert.notInclude(dump(seen), PASSWORD)
    }))

  it.live("a hook that throws, fails or dies does not end the connection", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      let calls = 0
      const onPacket: NonNullable<ClientOptions["onPacket"]> = (event) => {
        calls++
        if (event.direction === "sent") throw new Error("hook throws")
        return event.packet._tag === "Publish" ? Effect.fail("hook fails") : Effect.die("hook dies")
      }
      const mqtt = yield* client(broker.url, { onPacket })
      const messages = yield* collect(mqtt.subscribe("packets/broken", { qos: 1 }), 2)
      yield* mqtt.publish("packets/broken", "one", { qos: 1 })
      yield* mqtt.publish("packets/broken", "two", { qos: 2 })
      const received = yield* joinWithin(messages)
      assert.deepStrictEqual(received.map((m) => m.text), ["one", "two"])
      // CONNECT, CONNACK, SUBSCRIBE, SUBACK, 2 x PUBLISH out and in, PUBACK, PUBREC, PUBREL, PUBCOMP, ...
      assert.isAtLeast(calls, 12)
      assert.strictEqual((yield* SubscriptionRef.get(mqtt.status))._tag, "Connected")
    }))

  // From plain JavaScript: a hook that returns no Effect (undefined, a promise, a number) used to fail the
  // client with "Not a valid effect" (a newcomer found it); it is ignored like a failing one.
  it.live("a hook that returns something other than an Effect does not end the connection", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const returned: ReadonlyArray<unknown> = [undefined, null, 42, Promise.resolve(1), { _tag: "Publish" }]
      let calls = 0
      const onPacket = ((_: unknown) => returned[calls++ % returned.length]) as unknown as NonNullable<ClientOptions["onPacket"]>
      const mqtt = yield* client(broker.url, { onPacket })
      const messages = yield* collect(mqtt.subscribe("packets/plain", { qos: 1 }), 2)
      yield* mqtt.publish("packets/plain", "one", { qos: 1 })
      yield* mqtt.publish("packets/plain", "two", { qos: 0 })
      const received = yield* joinWithin(messages)
      assert.deepStrictEqual(received.map((m) => m.text), ["one", "two"])
      assert.isAtLeast(calls, 8)
      assert.strictEqual((yield* SubscriptionRef.get(mqtt.status))._tag, "Connected")
    }))
})
