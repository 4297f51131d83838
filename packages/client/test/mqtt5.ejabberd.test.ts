/**
 * MQTT 5.0 in the client against ejabberd 23.01 (mod_mqtt): what it produces and mosquitto 2.0.11 does not
 * (see mqtt5.mosquitto.test.ts and mqtt5.paho.test.ts for mosquitto, ejabberd.broker.test.ts for the broker
 * itself checked through the codec):
 * - a session taken over by another connection with the same client id: DISCONNECT 0x8E to the old one
 *   (mosquitto 2.0.11 just closes it);
 * - CONNACK's Shared Subscription Available 0 (mosquitto supports them) and Topic Alias Maximum 100;
 * - no anonymous login: every client needs a registered user and its password.
 *
 * One broker for the file (it takes 3 to 9 s to start). Every wait is on an event, bounded.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Redacted, Schedule, Stream } from "effect"
import { describeEjabberd, EjabberdBroker } from "./brokers/index.ts"
import { awaitStatus, client, collect, joinWithin, recordStatus, statusOf, uniqueId, waitUntil, wireLog } from "./util.ts"

const alice = { protocolVersion: 5, username: "alice", password: Redacted.make("password") } as const



describeEjabberd("MQTT 5.0 against ejabberd 23.01", () => {
  it.layer(EjabberdBroker.layer({ users: { alice: "password" } }), { timeout: "60 seconds", excludeTestServices: true })(
    "one broker for the file",
    (it) => {
      it.effect("CONNACK: Topic Alias Maximum 100, Shared Subscription Available 0, no Receive Maximum (65535), the keep-alive echoed", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const mqtt = yield* client(broker.url, { ...alice, keepAlive: 30 })
          const { negotiated } = yield* statusOf(mqtt)
          assert.strictEqual(negotiated.protocolVersion, 5)
          assert.strictEqual(negotiated.topicAliasMaximum, 100)
          assert.isFalse(negotiated.sharedSubscriptionAvailable)
          assert.strictEqual(negotiated.receiveMaximum, 65535)
          assert.strictEqual(negotiated.keepAlive, 30)
          assert.strictEqual(negotiated.sessionExpiryInterval, 0)
          // the client sends no alias of its own, whatever the broker allows: QoS 1 round trip with full topics
          const echo = yield* collect((yield* mqtt.subscription("ej/alias/+", { qos: 1 })).messages, 2)
          yield* mqtt.publish("ej/alias/a", "1", { qos: 1 })
          yield* mqtt.publish("ej/alias/a", "2", { qos: 1 })
          assert.deepStrictEqual([...yield* joinWithin(echo)].map((m) => [m.topic, m.text]), [["ej/alias/a", "1"], ["ej/alias/a", "2"]])
        }))

      it.effect("users need a password: without one, or with a wrong one, the connection is refused with 0x87 Not authorized, not retried", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          for (const options of [{ protocolVersion: 5, username: "alice" }, { ...alice, password: Redacted.make("wrong") }] as const) {
            const exit = yield* Effect.exit(client(broker.url, options))
            const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
            assert.strictEqual(error?._tag, "ConnectionRefused")
            if (error?._tag === "ConnectionRefused") {
              assert.strictEqual(error.reasonCode, 0x87)
              assert.strictEqual(error.reason, "Not authorized")
              assert.isFalse(error.isRetryable)
            }
          }
        }))

      it.effect("a $share subscription fails with UnsupportedByServer before anything is sent (ejabberd would answer DISCONNECT 0x9E); the connection stays up", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const wire = wireLog()
          const mqtt = yield* client(broker.url, { ...alice, onPacket: wire.onPacket })
          const statuses = yield* recordStatus(mqtt)
          const error = yield* Effect.flip(mqtt.subscribe("$share/g/ej/jobs/#", { qos: 1 }).pipe(Stream.runDrain))
          assert.strictEqual(error._tag, "UnsupportedByServer")
          if (error._tag === "UnsupportedByServer") {
            assert.strictEqual(error.feature, "shared-subscriptions")
            assert.include(error.message, "Shared Subscription Available")
            assert.isFalse(error.isRetryable)
          }
          assert.deepStrictEqual(wire.tags("sent"), ["Connect"], "no SUBSCRIBE went out")
          const jobs = yield* collect((yield* mqtt.subscription("ej/jobs/#", { qos: 1 })).messages, 1)
          yield* mqtt.publish("ej/jobs/a", "job", { qos: 1 })
          assert.deepStrictEqual([...yield* joinWithin(jobs)].map((m) => m.text), ["job"])
          assert.deepStrictEqual(statuses.map((s) => s._tag), ["Connected"])
        }))

      it.effect("session taken over: the old connection gets DISCONNECT 0x8E; its status says so, the client stops reconnecting, its streams fail with it; the new one stays", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const clientId = uniqueId("taken")
          const wire = wireLog()
          const first = yield* client(broker.url, { ...alice, clientId, reconnect: Schedule.spaced("20 millis"), onPacket: wire.onPacket })
          const firstStatuses = yield* recordStatus(first)
          const stream = yield* first.subscribe("ej/takeover/#", { qos: 1 }).pipe(Stream.runDrain, Effect.forkScoped({ startImmediately: true }))
          yield* waitUntil(() => wire.tags("received").includes("Suback"), 5000, () => "SUBACK")
          const second = yield* client(broker.url, { ...alice, clientId })
          const secondStatuses = yield* recordStatus(second)
          const status = yield* awaitStatus(first, (s) => s._tag === "Disconnected")
          const cause = status._tag === "Disconnected" ? status.cause : undefined
          assert.strictEqual(cause?._tag, "DisconnectedByServer")
          if (cause?._tag === "DisconnectedByServer") {
            assert.strictEqual(cause.reasonCode, 0x8e)
            assert.strictEqual(cause.reason, "Session taken over")
            assert.strictEqual(cause.reasonString, "Replaced by another connection")
            assert.isFalse(cause.isRetryable)
          }
          const received = wire.events.filter((e) => e.direction === "received" && e.packet._tag === "Disconnect").map((e) => e.packet)
          assert.deepStrictEqual(received.map((p) => (p._tag === "Disconnect" && "reasonCode" in p ? p.reasonCode : undefined)), [0x8e])
          // the client gives up: the stream fails with the DISCONNECT's error, the status stays Disconnected
          const ended = yield* Fiber.await(stream).pipe(Effect.timeout("5 seconds"))
          const error = Exit.isFailure(ended) ? Option.getOrUndefined(Exit.findErrorOption(ended)) : undefined
          assert.strictEqual(error?._tag === "DisconnectedByServer" ? error.reasonCode : error?._tag, 0x8e)
          assert.strictEqual((yield* Effect.flip(first.publish("ej/takeover/x", "late", { qos: 1 })))._tag, "ClientClosed")
          // (Disconnected is set twice: when the connection ends, and when the client gives up)
          assert.deepStrictEqual(
            firstStatuses.map((s) => (s._tag === "Disconnected" && s.cause?._tag === "DisconnectedByServer" ? `Disconnected ${s.cause.reasonCode}` : s._tag)),
            ["Connected", ...firstStatuses.slice(1).map(() => `Disconnected ${0x8e}`)],
            "never Reconnecting, never Connected again"
          )
          assert.deepStrictEqual(wire.tags("sent").filter((t) => t === "Connect"), ["Connect"], "one CONNECT only")
          // the new connection was never taken back: a round trip works, and it never left Connected
          const echo = yield* collect((yield* second.subscription("ej/takeover/#", { qos: 1 })).messages, 1)
          yield* second.publish("ej/takeover/x", "still mine", { qos: 1 })
          assert.deepStrictEqual([...yield* joinWithin(echo)].map((m) => m.text), ["still mine"])
          assert.deepStrictEqual(secondStatuses.map((s) => s._tag), ["Connected"])
        }))
    }
  )
})
