/**
 * The demo: subscribes to `demo/#`, publishes a few messages at each QoS and prints what arrives.
 * Talks to `MQTT_URL` when set, otherwise to an embedded broker.
 *
 *   npx -y pnpm@10 demo
 *   MQTT_URL=mqtt://test.example:1883 npx -y pnpm@10 demo
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Fiber, Schema, Stream } from "effect"
import { brokerUrl } from "./broker.ts"

const Reading = Schema.Struct({ sensor: Schema.String, celsius: Schema.Number })

const demo = Effect.gen(function*() {
  const mqtt = yield* MqttClient
  const prefix = `demo/${Math.random().toString(16).slice(2, 8)}`

  // Subscribe first; the stream starts emitting once the broker acknowledged the subscription.
  const subscription = yield* mqtt.subscription(`${prefix}/#`, { qos: 2 })
  yield* Console.log(`subscribed to ${prefix}/# (granted QoS ${subscription.granted.join(", ")})`)
  const printer = yield* subscription.messages.pipe(
    Stream.take(4),
    Stream.runForEach((message) => Console.log(`received ${message.topic} [QoS ${message.qos}]: ${message.text}`)),
    Effect.forkChild({ startImmediately: true })
  )

  yield* mqtt.publish(`${prefix}/lights`, "on")
  yield* mqtt.publish(`${prefix}/door`, "closed", { qos: 1 })
  yield* mqtt.publish(`${prefix}/alarm`, "armed", { qos: 2 })
  yield* mqtt.publish(`${prefix}/kitchen`, { sensor: "kitchen", celsius: 21.5 }, { schema: Reading, qos: 1 })
  yield* Console.log("published 4 messages (QoS 0, 1, 2 and a Schema-encoded JSON value)")
  yield* Fiber.join(printer)
})

const program = Effect.gen(function*() {
  const url = yield* brokerUrl
  yield* demo.pipe(Effect.provide(MqttClient.layer({ url })))
  yield* Console.log("done: the client sent DISCONNECT and closed the socket")
}).pipe(
  Effect.scoped,
  Effect.catchTags({
    ConnectionRefused: (error) => Console.error(`the broker refused the connection: ${error.reason}`),
    ConnectError: (error) => Console.error(`could not connect: ${error.message}`),
    InvalidOptions: (error) => Console.error(`invalid options (MQTT_URL?): ${error.message}`)
  })
)

NodeRuntime.runMain(program)
