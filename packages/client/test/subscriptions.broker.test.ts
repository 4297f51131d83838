/**
 * Issue 11, part A, against brokers: each fault of "subscription state has no single owner" as it shows
 * to a program. mosquitto wherever it can produce the situation; a scripted broker where it cannot (a
 * refused re-subscribe: mosquitto never answers 0x80; messages sent before UNSUBACK: a timing mosquitto
 * does not produce on demand).
 *
 * Every wait is on an event (a message, a status, a log line) with a generous bound, never a count of
 * things that happen within a fixed time.
 */
import { type AckableMessage, type MqttError, type PayloadDecodeError, SubscriptionRejected } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Schedule, Schema, Stream } from "effect"
import { AedesBroker, CutProxy, describeMosquitto, FakeBroker, FakeScripts, Mosquitto, type MosquittoBroker, mosquittoPub, subackBytes } from "./brokers/index.ts"
import { awaitStatus, client, collect, joinWithin, uniqueId, waitUntil } from "./util.ts"


const awaitLog = (broker: MosquittoBroker, match: (line: string) => boolean, count = 1, timeoutMs = 10_000) =>
  waitUntil(() => broker.logText().split("\n").filter(match).length >= count, timeoutMs, () => `${count} log line(s):\n${broker.logText()}`)

/** The filters of a SUBSCRIBE packet (fixed header with a 1-byte remaining length, as the tests send). */
const subscribeFilters = (packet: Uint8Array): { readonly packetId: number; readonly filters: ReadonlyArray<string> } => {
  const filters: Array<string> = []
  let i = 4
  while (i < packet.length) {
    const length = ((packet[i] as number) << 8) | (packet[i + 1] as number)
    filters.push(new TextDecoder().decode(packet.subarray(i + 2, i + 2 + length)))
    i += 2 + length + 1
  }
  return { packetId: ((packet[2] as number) << 8) | (packet[3] as number), filters }
}

/** A QoS 0 PUBLISH. */
const publishBytes = (topic: string, payload: string): Uint8Array => {
  const t = new TextEncoder().encode(topic)
  const p = new TextEncoder().encode(payload)
  return new Uint8Array([0x30, 2 + t.length + p.length, 0, t.length, ...t, ...p])
}

describeMosquitto("subscription state against mosquitto (issue 11, A)", () => {
  // Item 1: the old stream's deferred UNSUBSCRIBE overtook the new SUBSCRIBE; only round 0 received.
  it.live("take(1) three times in a row on one filter while a publisher sends: every round receives", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const clientId = uniqueId("rounds")
      const mqtt = yield* client(broker.url, { clientId })
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(mqtt.publish("t/x", "hello"), Effect.sleep("50 millis"))))
      for (let round = 0; round < 3; round++) {
        const got = yield* mqtt.subscribe("t/x").pipe(Stream.take(1), Stream.runCollect, Effect.timeout("5 seconds"), Effect.option)
        assert.isTrue(Option.isSome(got), `round ${round} received nothing; broker log:\n${broker.logText()}`)
      }
    }), 30_000)

  // The same fault reached through the natural recoveries after a PayloadDecodeError.
  const Reading = Schema.Struct({ celsius: Schema.Number })
  type Typed = Stream.Stream<{ readonly value: { readonly celsius: number } }, MqttError | PayloadDecodeError>
  const recoveries: ReadonlyArray<readonly [string, (stream: Typed, again: () => Typed) => Typed]> = [
    ["Stream.retry(Schedule.recurs(3))", (stream) => stream.pipe(Stream.retry(Schedule.recurs(3)))],
    ["Stream.retry(Schedule.forever)", (stream) => stream.pipe(Stream.retry(Schedule.forever))],
    ["Stream.catch, then subscribe again", (stream, again) => stream.pipe(Stream.catch(() => again()))],
    ["Stream.catchTag(\"PayloadDecodeError\"), then subscribe again", (stream, again) =>
      stream.pipe(Stream.catchTag("PayloadDecodeError", () => again()))]
  ]
  for (const [name, recover] of recoveries) {
    it.live(`${name} after a PayloadDecodeError subscribes again and receives the next good message`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        const mqtt = yield* client(broker.url, { clientId: uniqueId("retry") })
        let n = 0
        // one bad payload, then good ones, forever
        yield* Effect.forkScoped(Effect.forever(Effect.andThen(
          Effect.suspend(() => mqtt.publish("s/t", n++ === 0 ? "not json" : JSON.stringify({ celsius: n }))),
          Effect.sleep("50 millis")
        )))
        const subscribe = (): Typed => mqtt.subscribe("s/t", { schema: Reading })
        const got = yield* recover(subscribe(), subscribe).pipe(Stream.take(1), Stream.runCollect, Effect.timeout("5 seconds"), Effect.option)
        assert.isTrue(Option.isSome(got) && got.value.length === 1, `nothing after the recovery:\n${broker.logText()}`)
      }), 30_000)
  }

  // Found by a newcomer's test: a manual-ack stream that ends owing acknowledgements held back every later
  // PUBACK on the connection (they leave in arrival order [MQTT-4.6.0-2]); mosquitto stopped sending after
  // its in-flight window and every stream of the client went silent, without an error.
  const endings: ReadonlyArray<readonly [string, (stream: Stream.Stream<AckableMessage, MqttError>) => Effect.Effect<unknown, unknown>]> = [
    ["take(1), the rest unacknowledged", (stream) => stream.pipe(Stream.take(1), Stream.runForEach((m) => m.ack))],
    ["a timeout before any ack", (stream) => stream.pipe(Stream.runDrain, Effect.timeout("300 millis"), Effect.ignore)]
  ]
  for (const [name, end] of endings) {
    it.live(`a manual-ack stream that ends owing acknowledgements (${name}) does not hold back later messages`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        const mqtt = yield* client(broker.url, { clientId: uniqueId("owed") })
        const pub = yield* client(broker.url, { clientId: uniqueId("owed-pub") })
        const manual = yield* end(mqtt.subscribe("job/x", { qos: 1, ack: "manual" })).pipe(Effect.forkChild({ startImmediately: true }))
        yield* waitUntil(() => broker.logText().includes("\tjob/x (QoS 1)"), 5000, () => "SUBSCRIBE job/x")
        for (const i of [0, 1, 2]) yield* pub.publish("job/x", `a${i}`, { qos: 1 })
        yield* joinWithin(manual, "5 seconds")
        // 40 more: more than mosquitto's window of 20 unacknowledged messages
        const next = yield* collect(mqtt.subscribe("job/x", { qos: 1 }), 40)
        yield* waitUntil(() => broker.logText().split("\n").filter((l) => l.includes("\tjob/x (QoS 1)")).length >= 2, 5000, () => "second SUBSCRIBE")
        for (let i = 0; i < 40; i++) yield* pub.publish("job/x", `b${i}`, { qos: 1 })
        const got = yield* joinWithin(next, "10 seconds")
        assert.deepStrictEqual(got.map((m) => m.text), Array.from({ length: 40 }, (_, i) => `b${i}`))
      }), 30_000)
  }

  // Item 2: what the program unsubscribed stays unsubscribed across a reconnect.
  it.live("unsubscribe while a stream is open, then the connection drops: no SUBSCRIBE after the reconnect, the stream receives nothing", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const proxy = yield* CutProxy.start({ target: broker.port })
      const clientId = uniqueId("unsub-reconnect")
      const mqtt = yield* client(proxy.url, { clientId, reconnect: Schedule.spaced("50 millis") })
      const u = yield* mqtt.subscription("u/#", { qos: 1 })
      const marker = yield* mqtt.subscription("m/#", { qos: 1 })
      const got: Array<string> = []
      yield* u.messages.pipe(Stream.runForEach((m) => Effect.sync(() => got.push(m.text))), Effect.forkScoped({ startImmediately: true }))
      yield* mosquittoPub({ port: broker.port, topic: "u/x", message: "before", qos: 1 })
      yield* waitUntil(() => got.length > 0, 5000, () => "the first message")
      yield* mqtt.unsubscribe("u/#")
      yield* proxy.cutAll
      yield* awaitStatus(mqtt, (s) => s._tag === "Reconnecting" || s._tag === "Disconnected")
      yield* awaitStatus(mqtt, (s) => s._tag === "Connected")
      // the reconnect re-subscribed m/# (clean session) but not u/#
      yield* awaitLog(broker, (l) => l.includes(`Received SUBSCRIBE from ${clientId}`), 3)
      const markers = yield* collect(marker.messages, 1)
      yield* mosquittoPub({ port: broker.port, topic: "u/x", message: "after reconnect", qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "m/x", message: "marker", qos: 1 })
      yield* joinWithin(markers, "10 seconds")
      assert.deepStrictEqual(got, ["before"])
      const lines = yield* broker.logs
      assert.strictEqual(lines.filter((l) => l.includes("\tu/# (QoS")).length, 1, lines.join("\n"))
    }), 30_000)
})

// aedes applies an UNSUBSCRIBE whose UNSUBACK comes after a later SUBSCRIBE's SUBACK last (moscajs/aedes#469):
// UNSUBSCRIBE f then SUBSCRIBE f, sent in that order, left it without the subscription and the new stream
// silent. The client waits for the UNSUBACK before a new stream on f opens. Found by a newcomer's test.
describe("subscription state against aedes, the embedded broker", () => {
  it.live("take(1) in a loop with a pause between rounds (the UNSUBSCRIBE goes out each time): every round receives", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url, { clientId: uniqueId("aedes-rounds") })
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(broker.publish("t/x", "hello", { qos: 1 }), Effect.sleep("20 millis"))))
      for (let round = 0; round < 15; round++) {
        const got = yield* mqtt.subscribe("t/x", { qos: 1 }).pipe(Stream.take(1), Stream.runCollect, Effect.timeout("3 seconds"), Effect.option)
        assert.isTrue(Option.isSome(got), `round ${round} received nothing`)
        yield* Effect.sleep("2 millis") // lets the released filter's UNSUBSCRIBE go out
      }
    }), 60_000)

  it.live("unsubscribe and a new stream on the same filter at once: the new stream receives", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url, { clientId: uniqueId("aedes-unsub-resub") })
      for (let round = 0; round < 10; round++) {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* mqtt.subscription("u/x", { qos: 1 })
          const unsubscribing = yield* Effect.forkChild(mqtt.unsubscribe("u/x"), { startImmediately: true })
          const next = yield* mqtt.subscribe("u/x", { qos: 1 }).pipe(Stream.take(1), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
          yield* joinWithin(unsubscribing)
          // published until the new stream has something (its SUBSCRIBE goes out after the UNSUBACK)
          const publisher = yield* Effect.forkChild(Effect.forever(Effect.andThen(broker.publish("u/x", `r${round}`, { qos: 1 }), Effect.sleep("20 millis"))))
          const got = yield* joinWithin(next, "3 seconds").pipe(Effect.option)
          yield* Fiber.interrupt(publisher)
          assert.isTrue(Option.isSome(got), `round ${round}: the new stream received nothing`)
        }))
      }
    }), 60_000)
})

describe("subscription state against a scripted broker (issue 11, A)", () => {
  // Item 3: a refused re-subscribe after a reconnect without a session fails its streams; the other filter
  // of the same SUBSCRIBE keeps working.
  it.live("a re-subscribe refused with 0x80 fails the stream on that filter with SubscriptionRejected; the other filter still receives", () =>
    Effect.gen(function*() {
      const resubscribes: Array<ReadonlyArray<string>> = []
      const script = FakeScripts.connackThenEach((conn, packet) =>
        Effect.gen(function*() {
          if ((packet[0] as number) >> 4 !== 8) return
          const { packetId, filters } = subscribeFilters(packet)
          if (conn.index === 1) {
            yield* conn.write(subackBytes(packetId, filters.map(() => 1)))
            if (filters.includes("status")) yield* conn.destroy // both streams are up: drop the connection
          } else {
            resubscribes.push(filters)
            yield* conn.write(subackBytes(packetId, filters.map((f) => f === "cmd/#" ? 0x80 : 1)))
            yield* conn.write(publishBytes("status", "online"))
          }
        })
      )
      const fake = yield* FakeBroker.start(script)
      const mqtt = yield* client(fake.url, { reconnect: Schedule.spaced("50 millis") })
      const cmd = yield* mqtt.subscription("cmd/#", { qos: 1 })
      const cmdExit = yield* cmd.messages.pipe(Stream.runCollect, Effect.exit, Effect.forkScoped({ startImmediately: true }))
      const status = yield* mqtt.subscription("status", { qos: 1 })
      const statusGot = yield* collect(status.messages, 1)
      const exit = yield* joinWithin(cmdExit, "10 seconds")
      assert.isTrue(Exit.isFailure(exit), "the cmd/# stream ended")
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined
      assert.instanceOf(error, SubscriptionRejected)
      assert.deepStrictEqual(error instanceof SubscriptionRejected ? error.filters : [], ["cmd/#"])
      assert.deepStrictEqual((yield* joinWithin(statusGot, "10 seconds")).map((m) => m.text), ["online"])
      assert.deepStrictEqual(resubscribes.map((f) => [...f].sort()), [["cmd/#", "status"]], "one re-subscribe carried both filters")
    }), 20_000)

  // Item 4: the broker may deliver messages it had sent before its UNSUBACK [MQTT-3.10.4-3]; they belong to
  // the ended subscription, not to a later one.
  for (const cleanSession of [true, false]) {
    it.live(`messages sent before UNSUBACK are not replayed to a later subscription (cleanSession ${cleanSession})`, () =>
      Effect.gen(function*() {
        let subscribes = 0
        let tailSent = false
        const script = FakeScripts.connackThenEach((conn, packet) =>
          Effect.gen(function*() {
            const type = (packet[0] as number) >> 4
            const id = [packet[2] as number, packet[3] as number]
            if (type === 8) {
              subscribes++
              yield* conn.write(subackBytes((id[0] as number) << 8 | (id[1] as number), [0]))
              yield* conn.write(publishBytes("telemetry", subscribes === 1 ? "old-1" : "new"))
            }
            if (type === 10) {
              yield* conn.write(publishBytes("telemetry", "old-2"))
              yield* conn.write(publishBytes("telemetry", "old-3"))
              yield* conn.write(new Uint8Array([0xb0, 2, ...id]))
              tailSent = true
            }
          })
        )
        const fake = yield* FakeBroker.start(script)
        const mqtt = yield* client(fake.url, { cleanSession, clientId: uniqueId("tail"), unsubscribeOnEnd: true })
        // every incoming message: once old-3 was read, the tail reached the client before the next SUBSCRIBE
        const seen = yield* collect(mqtt.messages, 3)
        const first = yield* mqtt.subscribe("telemetry").pipe(Stream.take(1), Stream.runCollect)
        assert.deepStrictEqual(first.map((m) => m.text), ["old-1"])
        assert.deepStrictEqual((yield* joinWithin(seen, "10 seconds")).map((m) => m.text), ["old-1", "old-2", "old-3"])
        assert.isTrue(tailSent)
        const second = yield* mqtt.subscribe("telemetry").pipe(Stream.take(1), Stream.runCollect, Effect.timeout("5 seconds"))
        assert.deepStrictEqual(second.map((m) => m.text), ["new"], "the new subscription got the old one's tail")
      }), 20_000)
  }
})

