/**
 * Publish a few messages at each QoS.   npx -y pnpm@10 example:publish
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { brokerUrl } from "./broker.ts"

const program = Effect.gen(function*() {
  const mqtt = yield* MqttClient
  yield* mqtt.publish("home/lights", "on") // QoS 0: done once the bytes are on the socket
  yield* mqtt.publish("home/door", "locked", { qos: 1 }) // QoS 1: done on PUBACK
  yield* mqtt.publish("home/alarm", "armed", { qos: 2, retain: true }) // QoS 2: done on PUBCOMP
  yield* Console.log("published 3 messages")
})

Effect.gen(function*() {
  const url = yield* brokerUrl
  yield* program.pipe(Effect.provide(MqttClient.layer({ url })))
}).pipe(Effect.scoped, NodeRuntime.runMain)
