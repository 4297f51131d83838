/**
 * A refused connection is a typed error: match it by tag.   npx -y pnpm@10 example:connection-refused
 * With the embedded broker, only alice/secret may connect; we try with a wrong password.
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Redacted } from "effect"
import { embeddedBroker } from "./broker.ts"

const connect = (url: string, password: string) =>
  Effect.gen(function*() {
    yield* MqttClient
    return "connected"
  }).pipe(
    Effect.provide(MqttClient.layer({ url, username: "alice", password: Redacted.make(password), connectTimeout: "5 seconds" })),
    Effect.catchTag("ConnectionRefused", (error) =>
      // returnCode: 1 protocol version, 2 client id, 3 server unavailable, 4 bad credentials, 5 not authorized
      Effect.succeed(`refused with code ${error.returnCode}: ${error.reason}`)),
    Effect.catchTag("ConnectError", (error) => Effect.succeed(`unreachable: ${error.message}`))
  )

Effect.gen(function*() {
  const url = process.env.MQTT_URL ??
    (yield* embeddedBroker({ authenticate: (user, password) => user === "alice" && password === "secret" })).url
  yield* Console.log(`wrong password: ${yield* connect(url, "wrong")}`)
  yield* Console.log(`right password: ${yield* connect(url, "secret")}`)
}).pipe(Effect.scoped, NodeRuntime.runMain)
