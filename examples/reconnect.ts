/**
 * Reconnect and keep-alive: watch the status while the broker goes away and comes back.
 *   npx -y pnpm@10 example:reconnect
 * The subscription survives: after the reconnect the client re-subscribes and the same stream keeps
 * receiving. `Schedule.spaced("1 second")` is the seed client's "wait 5 s and retry", shortened.
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Exit, Fiber, Schedule, Scope, Stream, SubscriptionRef } from "effect"
import { embeddedBroker } from "./broker.ts"
import { describeStatus } from "./status.ts"

Effect.gen(function*() {
  // A broker we can stop and start again on the same port.
  const firstBrokerScope = yield* Scope.make()
  const broker = yield* embeddedBroker().pipe(Scope.provide(firstBrokerScope))

  const session = Effect.gen(function*() {
    const mqtt = yield* MqttClient
    yield* SubscriptionRef.changes(mqtt.status).pipe(
      Stream.runForEach((status) => Console.log(`status: ${describeStatus(status)}`)),
      Effect.forkChild({ startImmediately: true })
    )
    const news = yield* mqtt.subscription("news/#", { qos: 1 })
    const printer = yield* news.messages.pipe(
      Stream.take(2),
      Stream.runForEach((message) => Console.log(`received ${message.topic}: ${message.text}`)),
      Effect.forkChild({ startImmediately: true })
    )
    yield* mqtt.publish("news/1", "before the outage", { qos: 1 })
    yield* Effect.sleep("300 millis")

    yield* Console.log("-- stopping the broker")
    yield* Scope.close(firstBrokerScope, Exit.void)
    yield* Effect.sleep("2500 millis")
    yield* Console.log("-- starting it again on the same port")
    yield* embeddedBroker({ port: broker.port })

    // Published while the client may still be reconnecting: it waits in the offline queue.
    yield* mqtt.publish("news/2", "after the reconnect", { qos: 1 })
    yield* Fiber.join(printer)
  })

  yield* session.pipe(Effect.provide(MqttClient.layer({ url: broker.url, keepAlive: 5, reconnect: Schedule.spaced("1 second") })))
}).pipe(Effect.scoped, NodeRuntime.runMain)
