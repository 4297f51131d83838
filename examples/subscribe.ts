/**
 * Subscribe to a filter and print messages as they arrive.   npx -y pnpm@10 example:subscribe
 * (with the embedded broker, a background fiber publishes some readings so there is something to see)
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Schema, Stream } from "effect"
import { brokerUrl } from "./broker.ts"

// Payloads are JSON; the Schema decodes them. By default a payload that does not match fails the stream
// with a typed PayloadDecodeError (topic, what the Schema said, a bounded copy of the payload); a
// telemetry consumer that must keep going reports it and skips the message instead (onDecodeError).
const Reading = Schema.Struct({ sensor: Schema.String, celsius: Schema.Number })

const program = Effect.gen(function*() {
  const mqtt = yield* MqttClient
  // Something to read: publish a reading every 200 ms in the background.
  yield* Effect.forkChild(
    Effect.forEach([1, 2, 3, 4, 5], (i) =>
      mqtt.publish(`sensors/room${i}/temperature`, { sensor: `room${i}`, celsius: 19 + i / 2 }, { schema: Reading }).pipe(
        Effect.delay("200 millis")
      ))
  )
  // One reading that is not JSON: reported and skipped, the stream goes on.
  yield* Effect.forkChild(mqtt.publish("sensors/attic/temperature", "21,5 °C").pipe(Effect.delay("100 millis")))
  yield* mqtt.subscribe("sensors/+/temperature", {
    qos: 1,
    schema: Reading,
    onDecodeError: (error) => Console.log(`skipped a reading on ${error.topic} (${error.payloadSize} bytes): not a Reading`)
  }).pipe(
    Stream.take(5),
    Stream.runForEach(({ topic, value }) => Console.log(`${topic}: ${value.sensor} is at ${value.celsius} °C`))
  )
})

Effect.gen(function*() {
  const url = yield* brokerUrl
  yield* program.pipe(Effect.provide(MqttClient.layer({ url })))
}).pipe(Effect.scoped, NodeRuntime.runMain)
