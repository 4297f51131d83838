/**
 * Strings sent as something else (issue 11, item 6): every string the client puts on the wire passes
 * the codec's one check (`mqttStringError`, through `outgoingTopicNameError`/`outgoingTopicFilterError`
 * for topics, which also refuse the control characters and noncharacters mosquitto drops the connection
 * for) before anything is sent. A topic cut inside an emoji (`"sensor/\uD83C"`) used to go out as
 * `"sensor/\uFFFD"`, and the stream subscribed to it never received anything. Against aedes, with a
 * wire tap in front of it to see exactly which packets the client sent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { AedesBroker } from "./brokers/index.ts"
import { client, collect, joinWithin, Tap, uniqueId } from "./util.ts"

/** A topic cut in the middle of a surrogate pair, as `slice` does to "🌡️ kitchen". */
const CUT = "sensor/" + "🌡️ kitchen".slice(0, 1)
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const codePoints = (s: string) => [...s].map((c) => (c.codePointAt(0) ?? 0).toString(16))

describe("MqttClient against aedes: strings that are not MQTT strings [MQTT-1.5.3]", () => {
  it.live("publish, subscription, subscribe and unsubscribe with \"sensor/\\uD83C\" fail with InvalidTopic; nothing is sent", () =>
    Effect.gen(function*() {
      assert.strictEqual(CUT, "sensor/\uD83C")
      const broker = yield* AedesBroker.start()
      const tap = yield* Tap.start(broker.port)
      const clientId = uniqueId("strings")
      const mqtt = yield* client(tap.url, { clientId })
      const errors = [
        yield* Effect.flip(mqtt.publish(CUT, "21.5")),
        yield* Effect.flip(mqtt.publish(CUT, "21.5", { qos: 1 })),
        yield* Effect.flip(mqtt.publish(CUT, "21.5", { qos: 2, retain: true })),
        yield* mqtt.subscription(CUT, { qos: 1 }).pipe(Effect.scoped, Effect.flip, Effect.timeout("2 seconds")),
        yield* mqtt.subscription(["ok/#", CUT]).pipe(Effect.scoped, Effect.flip, Effect.timeout("2 seconds")),
        yield* mqtt.subscribe(CUT, { qos: 2 }).pipe(Stream.runCollect, Effect.flip, Effect.timeout("2 seconds")),
        yield* Effect.flip(mqtt.unsubscribe(CUT)),
        yield* Effect.flip(mqtt.unsubscribe(["ok/#", CUT]))
      ]
      for (const [i, error] of errors.entries()) {
        assert.strictEqual(error._tag, "InvalidTopic", `call ${i}`)
        if (error._tag !== "InvalidTopic") continue
        assert.strictEqual(error.topic, CUT, `call ${i}`)
        assert.include(error.reason, "unpaired surrogate (U+D83C at index 7)", `call ${i}`)
        assert.include(error.reason, "[MQTT-1.5.3-1]", `call ${i}`)
        assert.include(error.message, "\"sensor/\\ud83c\"", `call ${i}`) // JSON.stringify escapes it
      }
      // a valid publish as a sentinel: anything sent before it would be on the wire first
      yield* mqtt.publish("sentinel", "s", { qos: 1 })
      yield* broker.awaitPublish("sentinel")
      assert.deepStrictEqual(tap.summary(), ["Connect", "Publish:sentinel"])
      assert.deepStrictEqual(broker.published.filter((m) => m.clientId === clientId).map((m) => m.topic), ["sentinel"])
    }))

  // Control characters and noncharacters: mosquitto 2.0 closes the connection on them ("malformed packet"),
  // so a reconnecting client that sent them again would loop forever and the request would never settle.
  it.live("the other ill-formed inputs (a lone low surrogate, a high one in the middle, a reversed pair, U+0000) and control characters and noncharacters fail with InvalidTopic; nothing is sent", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const tap = yield* Tap.start(broker.port)
      const mqtt = yield* client(tap.url, { clientId: uniqueId("strings") })
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["sensor/\uDC00", "unpaired surrogate (U+DC00 at index 7)"],
        ["a/\uD83C/b", "unpaired surrogate (U+D83C at index 2)"],
        ["\uDE00\uD83D", "unpaired surrogate (U+DE00 at index 0)"],
        ["a/\u0000", "null character U+0000 [MQTT-1.5.3-2]"],
        ["a\u0001b", "control character U+0001"],
        ["a\u001Fb", "control character U+001F"],
        ["a\u007Fb", "control character U+007F"],
        ["a\u0085b", "control character U+0085"],
        ["x/\uFFFF", "noncharacter U+FFFF"],
        ["x/\uFFFE", "noncharacter U+FFFE"],
        ["x/\uFDD0", "noncharacter U+FDD0"],
        ["x/\uD83F\uDFFF", "noncharacter U+1FFFF"]
      ]
      for (const [topic, reason] of cases) {
        for (
          const error of [
            yield* Effect.flip(mqtt.publish(topic, "x", { qos: 1 })),
            yield* mqtt.subscribe(topic).pipe(Stream.runCollect, Effect.flip, Effect.timeout("2 seconds")),
            yield* mqtt.subscription(topic).pipe(Effect.scoped, Effect.flip),
            yield* Effect.flip(mqtt.unsubscribe(topic))
          ]
        ) {
          assert.strictEqual(error._tag, "InvalidTopic", JSON.stringify(topic))
          if (error._tag !== "InvalidTopic") continue
          assert.strictEqual(error.topic, topic)
          assert.include(error.reason, reason)
        }
      }
      yield* mqtt.publish("sentinel", "s", { qos: 1 })
      yield* broker.awaitPublish("sentinel")
      assert.deepStrictEqual(tap.summary(), ["Connect", "Publish:sentinel"])
    }))

  it.live("a paired emoji and U+FEFF in topics go through unchanged, both ways, at QoS 0, 1 and 2", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const tap = yield* Tap.start(broker.port)
      const clientId = uniqueId("emoji")
      const mqtt = yield* client(tap.url, { clientId })
      const topic = "sensor/🌡️ kitchen"
      const odd = "\uFEFFbom/x" // accepted: U+FEFF must not be stripped [MQTT-1.5.3-3]
      const exact = yield* mqtt.subscription(topic, { qos: 2 })
      const wildcard = yield* collect(mqtt.subscribe("sensor/+", { qos: 2 }), 3)
      const other = yield* collect(mqtt.subscribe(odd, { qos: 1 }), 1)
      const fromExact = yield* collect(exact.messages, 3)
      yield* mqtt.publish(topic, "0", { qos: 0 })
      yield* mqtt.publish(topic, "1", { qos: 1 })
      yield* mqtt.publish(topic, "2", { qos: 2 })
      yield* mqtt.publish(odd, "odd", { qos: 1 })
      for (const fiber of [fromExact, wildcard]) {
        const messages = yield* joinWithin(fiber)
        assert.deepStrictEqual(messages.map((m) => [m.topic, text(m.payload)]), [[topic, "0"], [topic, "1"], [topic, "2"]])
      }
      assert.deepStrictEqual((yield* joinWithin(other)).map((m) => m.topic), [odd])
      // what the broker got is the same string, code point for code point
      const seen = broker.published.filter((m) => m.clientId === clientId)
      assert.deepStrictEqual(seen.map((m) => codePoints(m.topic)), [topic, topic, topic, odd].map(codePoints))
      assert.includeMembers([...tap.summary()], [`Subscribe:${topic}`, "Subscribe:sensor/+", `Subscribe:${odd}`, `Publish:${topic}`])
    }))

  it.live("clientId, username or will topic with an unpaired surrogate or U+0000 fail the layer with InvalidOptions, naming the field, before connecting", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const failures = yield* Effect.forEach(
        [
          { clientId: CUT },
          { clientId: "id\u0000" },
          { username: "us\uDC00er-Zq9" },
          { clientId: uniqueId("will"), will: { topic: CUT, payload: "gone" } }
        ],
        (options) => Effect.scoped(client(broker.url, options)).pipe(Effect.flip, Effect.timeout("3 seconds"))
      )
      assert.deepStrictEqual(failures.map((e) => e._tag), ["InvalidOptions", "InvalidOptions", "InvalidOptions", "InvalidOptions"])
      assert.deepStrictEqual(failures.map((e) => e.message), [
        "invalid option: clientId contains an unpaired surrogate (U+D83C at index 7), which is not well-formed UTF-8 [MQTT-1.5.3-1]",
        "invalid option: clientId contains the null character U+0000 [MQTT-1.5.3-2]",
        "invalid option: username contains an unpaired surrogate (U+DC00 at index 2), which is not well-formed UTF-8 [MQTT-1.5.3-1]",
        "invalid will topic (will.topic): topic name contains an unpaired surrogate (U+D83C at index 7), which is not well-formed UTF-8 [MQTT-1.5.3-1]"
      ])
      for (const e of failures) assert.notInclude(String(e), "Zq9")
      assert.strictEqual(broker.connectionCount(), 0, "nothing was sent: no connection was even opened")
    }))
})
