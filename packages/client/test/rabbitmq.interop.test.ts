/**
 * Issue 17: the MQTT 3.1.1 interop tests against RabbitMQ 3.10 (rabbitmq_mqtt), a third independent broker
 * implementation next to mosquitto and aedes: connect, the refusal codes, QoS 0/1, will, persistent session,
 * and RabbitMQ's quirks (QoS 2 downgraded to 1 both ways, retained messages only for exact-topic
 * subscriptions). One node serves the whole file; after it, no process it started is left.
 *
 * Every wait is on an event (SUBACK, a message, a status), bounded; never on a count within a fixed time.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { Effect, Logger, Redacted, Schedule, Stream } from "effect"
import { CutProxy, describeRabbitMQ, processesAlive, RabbitMQBroker, type RabbitMQNode } from "./brokers/index.ts"
import { awaitStatus, client, collect, joinWithin, uniqueId } from "./util.ts"

describeRabbitMQ("MqttClient against RabbitMQ 3.10 (one node)", () => {
  let node: RabbitMQNode | undefined

  it.layer(RabbitMQBroker.layer(), { timeout: "120 seconds", excludeTestServices: true })("interop", (it) => {
    it.effect("connects (anonymous is guest) and round-trips QoS 0 and QoS 1", () =>
      Effect.gen(function*() {
        const broker = yield* RabbitMQBroker
        node = broker
        const mqtt = yield* client(broker.url, { clientId: uniqueId("interop") })
        const sub = yield* mqtt.subscription("interop/#", { qos: 1 })
        assert.deepStrictEqual(sub.granted, [1])
        const got = yield* collect(sub.messages, 2)
        yield* mqtt.publish("interop/q0", "zero", { qos: 0 })
        yield* mqtt.publish("interop/q1", "one", { qos: 1 })
        const messages = [...yield* joinWithin(got, "10 seconds")].map((m) => [m.topic, m.text, m.qos])
        assert.sameDeepMembers(messages, [["interop/q0", "zero", 0], ["interop/q1", "one", 1]])
      }), 60_000)

    it.effect("an MQTT 5.0 CONNECT: RabbitMQ 3.10 closes the connection without CONNACK; the client fails at once and says to try protocolVersion 4", () =>
      Effect.gen(function*() {
        const broker = yield* RabbitMQBroker
        const error = yield* Effect.flip(client(broker.url, { protocolVersion: 5, connectRetry: false }))
        assert.strictEqual(error._tag, "ConnectError")
        assert.include(error.message, "protocolVersion: 4")
      }), 60_000)

    it.effect("refusals: a wrong password is CONNACK 4, a user without permissions CONNACK 5; neither is retried", () =>
      Effect.gen(function*() {
        const broker = yield* RabbitMQBroker
        yield* broker.ctl(["add_user", "alice", "right-pass"])
        const wrong = yield* client(broker.url, { username: "alice", password: redacted("wrong"), reconnect: Schedule.spaced("50 millis") }).pipe(
          Effect.flip
        )
        assert.strictEqual(wrong._tag, "ConnectionRefused")
        if (wrong._tag === "ConnectionRefused") assert.strictEqual(wrong.returnCode, 4)
        assert.isFalse(wrong.isRetryable)
        const noPermissions = yield* client(broker.url, { username: "alice", password: redacted("right-pass") }).pipe(Effect.flip)
        assert.strictEqual(noPermissions._tag, "ConnectionRefused")
        if (noPermissions._tag === "ConnectionRefused") assert.strictEqual(noPermissions.returnCode, 5)
        yield* broker.ctl(["set_permissions", "-p", "/", "alice", ".*", ".*", ".*"])
        const ok = yield* client(broker.url, { username: "alice", password: redacted("right-pass") })
        yield* ok.publish("interop/auth", "in", { qos: 1 })
      }), 60_000)

    it.effect("QoS 2 both ways: the subscribe is granted 1; a QoS 2 publish is answered with PUBACK and completes as QoS 1, with one warning", () =>
      Effect.gen(function*() {
        const broker = yield* RabbitMQBroker
        const warnings: Array<string> = []
        const logger = Logger.make((entry) => {
          if (entry.logLevel === "Warn") warnings.push(String(entry.message))
        })
        yield* Effect.gen(function*() {
          const mqtt = yield* client(broker.url, { clientId: uniqueId("q2") })
          const sub = yield* mqtt.subscription("interop/q2", { qos: 2 })
          assert.deepStrictEqual(sub.granted, [1], "RabbitMQ grants QoS 1 to a QoS 2 subscription")
          const got = yield* collect(sub.messages, 3)
          for (const n of [1, 2, 3]) yield* mqtt.publish("interop/q2", `m${n}`, { qos: 2 }).pipe(Effect.timeout("10 seconds"))
          const messages = yield* joinWithin(got, "10 seconds")
          assert.deepStrictEqual([...messages].map((m) => [m.text, m.qos]), [["m1", 1], ["m2", 1], ["m3", 1]])
          const status = yield* awaitStatus(mqtt, () => true)
          assert.strictEqual(status._tag, "Connected", "no protocol error, no reconnect")
        }).pipe(Effect.provide(Logger.layer([logger])))
        assert.strictEqual(warnings.filter((w) => w.includes("PUBACK instead of PUBREC")).length, 1, warnings.join("\n"))
      }), 60_000)

    it.effect("retained messages reach exact-topic subscriptions only (a RabbitMQ 3.10 limit)", () =>
      Effect.gen(function*() {
        const broker = yield* RabbitMQBroker
        const topic = `retained/${uniqueId("r")}`
        const mqtt = yield* client(broker.url)
        yield* mqtt.publish(topic, "kept", { qos: 1, retain: true })
        const exact = yield* mqtt.subscription(topic, { qos: 1 })
        const [message] = yield* joinWithin(yield* collect(exact.messages, 1), "10 seconds")
        assert.strictEqual(message?.text, "kept")
        assert.isTrue(message?.retain)
        // The wildcard subscription gets the next live message, and no retained one before it.
        const other = yield* client(broker.url)
        const wildcard = yield* other.subscription("retained/#", { qos: 1 })
        const next = yield* collect(wildcard.messages, 1)
        yield* mqtt.publish(topic, "live", { qos: 1 })
        const [first] = yield* joinWithin(next, "10 seconds")
        assert.strictEqual(first?.text, "live")
      }), 60_000)

    it.effect("the will is published when the connection dies without DISCONNECT", () =>
      Effect.gen(function*() {
        const broker = yield* RabbitMQBroker
        const topic = `will/${uniqueId("w")}`
        const watcher = yield* client(broker.url)
        const sub = yield* watcher.subscription(topic, { qos: 1 })
        const got = yield* collect(sub.messages, 1)
        const proxy = yield* CutProxy.start({ target: broker.port })
        yield* client(proxy.url, { will: { topic, payload: "gone", qos: 1 }, reconnect: Schedule.spaced("10 seconds") })
        yield* proxy.resetAll
        const [will] = yield* joinWithin(got, "15 seconds")
        assert.strictEqual(will?.text, "gone")
      }), 60_000)

    it.effect("a persistent session: QoS 1 messages published while the client is away arrive when it comes back", () =>
      Effect.gen(function*() {
        const broker = yield* RabbitMQBroker
        const clientId = uniqueId("persistent")
        const topic = `offline/${clientId}`
        yield* Effect.scoped(Effect.gen(function*() {
          const first = yield* client(broker.url, { clientId, cleanSession: false })
          yield* first.subscription(topic, { qos: 1 })
        }))
        const publisher = yield* client(broker.url)
        for (const n of [1, 2, 3]) yield* publisher.publish(topic, `away ${n}`, { qos: 1 })
        const back = yield* client(broker.url, { clientId, cleanSession: false })
        const status = yield* awaitStatus(back, (s) => s._tag === "Connected")
        assert.include(status, { _tag: "Connected", sessionPresent: true })
        const messages = yield* back.subscribe(topic, { qos: 1 }).pipe(Stream.take(3), Stream.runCollect, Effect.timeout("10 seconds"))
        assert.deepStrictEqual([...messages].map((m) => m.text), ["away 1", "away 2", "away 3"])
      }), 60_000)
  })

  afterAll(() => {
    if (node === undefined) return
    assert.deepStrictEqual(processesAlive(node.pids()), [], "every process of the node and its epmd has exited")
  })
})

const redacted = (value: string) => Redacted.make(value)
