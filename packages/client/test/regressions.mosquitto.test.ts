/**
 * Regressions found by the Paho MQTT 5 scenarios (client_test5.py), run under MQTT 3.1.1 and 5.0 (both
 * bugs were in code shared by the versions):
 * - a pingTimeout longer than the keep-alive made the keep-alive loop sleep past the next PINGREQ: mosquitto
 *   closed the connection after 1.5 keep-alives of silence;
 * - a QoS 2 message a manual-ack stream never acknowledged was remembered as delivered when the program closed
 *   the client (the connection's end did not run on close), so the resumed session's re-delivery was dropped
 *   as a duplicate: lost.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import { describeMosquitto, Mosquitto } from "./brokers/index.ts"
import { client, recordStatus, uniqueId, waitUntil, wireLog } from "./util.ts"


for (const protocolVersion of [4, 5] as const) {
  const v5 = { protocolVersion }
describeMosquitto(`regressions found with client_test5.py's scenarios (protocolVersion ${protocolVersion})`, () => {
  it.live("keep-alive 2 s with pingTimeout 5 s: the client must still send a PINGREQ within every keep-alive [MQTT-3.1.2-23], so mosquitto keeps it", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const wire = wireLog()
      const mqtt = yield* client(broker.url, { ...v5, keepAlive: 2, pingTimeout: "5 seconds", onPacket: wire.onPacket })
      const statuses = yield* recordStatus(mqtt)
      yield* waitUntil(() => wire.count("received", "Pingresp") >= 3 || statuses.length > 1, 15_000, () => "3 PINGRESPs or a lost connection")
      assert.deepStrictEqual(statuses.map((s) => s._tag), ["Connected"], `the client was dropped: ${wire.timeline()}\n${broker.logText()}`)
    }))

  it.live("redelivery after close: a QoS 2 message a manual-ack stream never acknowledged is delivered again when the persistent session is resumed", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const session = { ...v5, clientId: uniqueId("myclientid2"), cleanSession: false, ...(protocolVersion === 5 ? { sessionExpiryInterval: 99999 } : {}) }
      const scope = yield* Scope.make()
      const first = wireLog()
      const b = yield* client(broker.url, { ...session, onPacket: first.onPacket }).pipe(Scope.provide(scope))
      const held: Array<string> = []
      // the stream lives in the test's scope: closing the client does not end it first (its owed
      // acknowledgements are not released)
      yield* b.subscribe("TopicA/#", { qos: 2, ack: "manual" }).pipe(
        Stream.runForEach((m) => Effect.sync(() => void held.push(m.text))),
        Effect.forkScoped({ startImmediately: true })
      )
      yield* waitUntil(() => first.count("received", "Suback") >= 1, 5000, () => "SUBACK")
      yield* b.publish("TopicA/C", "qos 2", { qos: 2 })
      yield* waitUntil(() => held.length >= 1, 5000, () => "the message")
      yield* Scope.close(scope, Exit.void) // DISCONNECT; the message was never acknowledged (no PUBREC)
      assert.strictEqual(first.count("sent", "Pubrec"), 0)
      const second = wireLog()
      const back = yield* client(broker.url, { ...session, onPacket: second.onPacket })
      const again: Array<string> = []
      yield* back.subscribe("TopicA/#", { qos: 2 }).pipe(
        Stream.runForEach((m) => Effect.sync(() => void again.push(`${m.text} dup=${String(m.dup)}`))),
        Effect.forkScoped({ startImmediately: true })
      )
      // the broker re-sends the PUBLISH (DUP); the client answers PUBREC, gets PUBREL, sends PUBCOMP
      yield* waitUntil(() => second.count("sent", "Pubcomp") >= 1, 5000, () => `the QoS 2 flow: ${second.timeline()}`)
      assert.deepStrictEqual(again, ["qos 2 dup=true"], `second connection: ${second.timeline()}`)
    }))
})
}
