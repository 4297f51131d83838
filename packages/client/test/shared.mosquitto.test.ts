/**
 * Issue 17, shared subscriptions (`$share/{group}/{filter}`, [MQTT-4.8.2]) against mosquitto 2, which
 * serves them to MQTT 3.1.1 clients too and sends each message with its real topic (`jobs/a`).
 *
 * Each test uses its own group name and client ids: an offline persistent session left in a group keeps
 * taking its round-robin share (../shared/BROKERS-CLUSTER.md §3). Every wait is on received messages,
 * with a generous bound, never on a count within a fixed time.
 */
import type { Message, MqttClient } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import { CutProxy, describeMosquitto, Mosquitto } from "./brokers/index.ts"
import { client, uniqueId, waitUntil } from "./util.ts"

/** Runs `stream` in the background, appending every message's payload text to `into`. */
const gather = <E>(stream: Stream.Stream<Message, E>, into: Array<string>) =>
  stream.pipe(Stream.runForEach((m) => Effect.sync(() => into.push(m.text))), Effect.forkScoped({ startImmediately: true }))

const publishAll = (mqtt: MqttClient["Service"], topic: string, from: number, to: number) =>
  Effect.forEach(Array.from({ length: to - from }, (_, i) => from + i), (n) => mqtt.publish(topic, `m${n}`, { qos: 1 }), {
    discard: true
  })

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`)
const sorted = (xs: ReadonlyArray<string>) => [...xs].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))

describeMosquitto("shared subscriptions against mosquitto [MQTT-4.8.2]", () => {
  it.live("3 consumers in a group and a plain subscriber: each of 300 QoS 1 messages reaches exactly one consumer; the plain one gets all", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const group = uniqueId("g")
      const consumers = [[], [], []] as Array<Array<string>>
      for (const seen of consumers) {
        const mqtt = yield* client(broker.url, { clientId: uniqueId("worker") })
        yield* mqtt.subscription(`$share/${group}/jobs/#`, { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, seen)))
      }
      const plain: Array<string> = []
      const watcher = yield* client(broker.url)
      yield* watcher.subscription("jobs/#", { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, plain)))
      const publisher = yield* client(broker.url)
      yield* publishAll(publisher, "jobs/a", 0, 300)
      const total = () => consumers.reduce((n, seen) => n + seen.length, 0)
      yield* waitUntil(() => total() >= 300 && plain.length >= 300, 15_000, () => `consumers ${consumers.map((c) => c.length)}, plain ${plain.length}`)
      assert.deepStrictEqual(sorted(consumers.flat()), range(0, 300), "every message exactly once across the group")
      assert.deepStrictEqual(sorted(plain), range(0, 300))
      for (const seen of consumers) assert.isAbove(seen.length, 0, "mosquitto round-robins: every consumer got a share")
    }))

  it.live("a consumer that leaves cleanly: its share moves to the others, nothing is lost", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const group = uniqueId("g")
      const filter = `$share/${group}/jobs/#`
      const stay = [[], []] as Array<Array<string>>
      for (const seen of stay) {
        const mqtt = yield* client(broker.url, { clientId: uniqueId("stay") })
        yield* mqtt.subscription(filter, { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, seen)))
      }
      const leaving: Array<string> = []
      const leaverScope = yield* Scope.make()
      const leaver = yield* client(broker.url, { clientId: uniqueId("leaver") }).pipe(Scope.provide(leaverScope))
      yield* leaver.subscription(filter, { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, leaving)), Scope.provide(leaverScope))
      const publisher = yield* client(broker.url)
      yield* publishAll(publisher, "jobs/a", 0, 30)
      const all = () => [...stay.flat(), ...leaving]
      yield* waitUntil(() => all().length >= 30, 10_000, () => `${all().length} of 30`)
      assert.isAbove(leaving.length, 0, "the leaver had a share")
      // It leaves cleanly: its stream ends (UNSUBSCRIBE of the exact $share filter), then DISCONNECT.
      yield* Scope.close(leaverScope, Exit.void)
      const before = leaving.length
      yield* publishAll(publisher, "jobs/a", 30, 60)
      yield* waitUntil(() => all().length >= 60, 10_000, () => `${all().length} of 60`)
      assert.strictEqual(leaving.length, before, "nothing more for the consumer that left")
      assert.deepStrictEqual(sorted(all()), range(0, 60), "every message exactly once")
    }))

  it.live("unsubscribe with the exact $share filter leaves the group; a plain stream on the same filter is not affected", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const group = uniqueId("g")
      const mqtt = yield* client(broker.url, { clientId: uniqueId("both") })
      const other = yield* client(broker.url, { clientId: uniqueId("other") })
      const mine: Array<string> = []
      const theirs: Array<string> = []
      const plain: Array<string> = []
      yield* mqtt.subscription(`$share/${group}/jobs/#`, { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, mine)))
      yield* other.subscription(`$share/${group}/jobs/#`, { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, theirs)))
      yield* mqtt.subscription("unrelated/#", { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, plain)))
      yield* mqtt.unsubscribe(`$share/${group}/jobs/#`)
      const publisher = yield* client(broker.url)
      yield* publishAll(publisher, "jobs/a", 0, 20)
      yield* publisher.publish("unrelated/x", "u", { qos: 1 })
      yield* waitUntil(() => theirs.length >= 20 && plain.length >= 1, 10_000, () => `theirs ${theirs.length}, plain ${plain.length}`)
      assert.deepStrictEqual(mine, [], "the unsubscribed member gets nothing")
      assert.deepStrictEqual(sorted(theirs), range(0, 20))
      assert.deepStrictEqual(plain, ["u"])
    }))

  it.live("a persistent consumer killed with unacknowledged messages: mosquitto keeps its share while it is away and redelivers (DUP) when it returns", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const group = uniqueId("g")
      const filter = `$share/${group}/jobs/#`
      const killedId = uniqueId("killed")
      // The member that stays.
      const steady: Array<string> = []
      const other = yield* client(broker.url, { clientId: uniqueId("steady") })
      yield* other.subscription(filter, { qos: 1 }).pipe(Effect.flatMap((s) => gather(s.messages, steady)))
      // The member that dies: persistent session, manual acknowledgement never given, behind a proxy.
      const proxy = yield* CutProxy.start({ target: broker.port })
      const held: Array<string> = []
      const killedScope = yield* Scope.make()
      const killed = yield* client(proxy.url, { clientId: killedId, cleanSession: false }).pipe(Scope.provide(killedScope))
      // After SUBACK; `ack: "manual"` and no `ack` call: the messages stay unacknowledged.
      yield* killed.subscription(filter, { qos: 1, ack: "manual" }).pipe(
        Effect.flatMap((s) => gather(s.messages, held)),
        Scope.provide(killedScope)
      )
      const publisher = yield* client(broker.url)
      yield* publishAll(publisher, "jobs/a", 0, 10)
      yield* waitUntil(() => held.length + steady.length >= 10, 10_000, () => `held ${held.length}, steady ${steady.length}`)
      assert.isAbove(held.length, 0, "the killed member had a share in flight")
      const inFlight = [...held]
      // Killed: the connection is reset (no DISCONNECT reaches the broker), then the client is dropped.
      yield* proxy.resetAll
      yield* Scope.close(killedScope, Exit.void)
      yield* publishAll(publisher, "jobs/a", 10, 20)
      // It comes back on the same session and subscribes again.
      const back: Array<Message> = []
      const returned = yield* client(broker.url, { clientId: killedId, cleanSession: false })
      yield* returned.subscribe(filter, { qos: 1 }).pipe(Stream.runForEach((m) => Effect.sync(() => back.push(m))), Effect.forkScoped)
      const all = () => [...steady, ...back.map((m) => m.text)]
      yield* waitUntil(() => new Set(all()).size >= 20, 15_000, () => `steady ${steady.length}, back ${back.length}: ${sorted(all())}`)
      assert.deepStrictEqual([...new Set(all())].sort(), range(0, 20).sort(), "nothing lost")
      // What was in flight comes back with DUP set [MQTT-4.4.0-1]; the share queued while away without.
      for (const text of inFlight) {
        const again = back.find((m) => m.text === text)
        assert.isDefined(again, `${text} redelivered`)
        assert.isTrue(again?.dup, `${text} has DUP set`)
      }
      const queuedWhileAway = back.filter((m) => !inFlight.includes(m.text))
      assert.isAbove(queuedWhileAway.length, 0, "mosquitto kept the absent member's round-robin share")
      for (const m of queuedWhileAway) assert.isFalse(m.dup, `${m.text} was never sent before`)
    }))
})
