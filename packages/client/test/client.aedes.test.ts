import { MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Stream, SubscriptionRef } from "effect"
import { AedesBroker } from "./brokers/index.ts"

const client = (url: string, options: Parameters<typeof MqttClient.layer>[0] = {}) =>
  Layer.build(MqttClient.layer({ url, connectTimeout: "5 seconds", ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

describe("MqttClient against aedes", () => {
  it.live("publishes and receives its own message", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      const status = yield* SubscriptionRef.get(mqtt.status)
      assert.strictEqual(status._tag, "Connected")
      const sub = yield* mqtt.subscription("sensors/#", { qos: 1 })
      assert.deepStrictEqual(sub.granted, [1])
      const received = yield* sub.messages.pipe(Stream.take(3), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
      yield* mqtt.publish("sensors/a", "one")
      yield* mqtt.publish("sensors/b", "two", { qos: 1 })
      yield* mqtt.publish("sensors/c", "three", { qos: 2 })
      const messages = yield* Fiber.join(received)
      assert.deepStrictEqual(messages.map((m) => [m.topic, m.text]), [["sensors/a", "one"], ["sensors/b", "two"], ["sensors/c", "three"]])
    }))
})

describe("publish is lazy", () => {
  // Regression guard for the direct-write fast path: the write must happen when the effect runs.
  it.live("building a publish sends nothing; running it twice sends twice", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      const once = mqtt.publish("lazy/t", "x")
      yield* mqtt.publish("lazy/marker", "m")
      yield* broker.awaitPublish("lazy/marker")
      assert.strictEqual(broker.published.filter((p) => p.topic === "lazy/t").length, 0)
      yield* once
      yield* once
      yield* mqtt.publish("lazy/marker", "m2")
      yield* broker.awaitPublish((p) => p.topic === "lazy/marker" && new TextDecoder().decode(p.payload) === "m2")
      assert.strictEqual(broker.published.filter((p) => p.topic === "lazy/t").length, 2)
    }))
})
