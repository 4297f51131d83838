/**
 * MQTT 5.0 request/response:   MQTT_URL=mqtt://localhost:1883 npx -y pnpm@10 example:request-response
 *
 * A "time service" answers on `svc/time` with `respond`; a client asks it with `request`, which publishes
 * with a Response Topic and a fresh Correlation Data and waits for the matching answer [MQTT-4.10]. Five
 * requests run at once and each gets its own answer; a request nobody serves fails with `ResponseTimeout`.
 *
 * Needs an MQTT 5.0 broker (mosquitto 2, EMQX, HiveMQ, ...). The embedded aedes broker used when `MQTT_URL`
 * is unset speaks only MQTT 3.1.1: there the example says so.
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Schema } from "effect"
import { fileURLToPath } from "node:url"
import { brokerUrl, needsMqtt5 } from "./broker.ts"

const Time = Schema.Struct({ iso: Schema.String, asked: Schema.String })

/** Runs a responder and `n` concurrent requests against `url`; returns the answers. */
export const requestResponse = (url: string, n = 5) =>
  Effect.gen(function*() {
    const connect = (clientId: string) =>
      Effect.map(Layer.build(MqttClient.layer({ url, protocolVersion: 5, clientId: `${clientId}-${process.pid}` })), Context.get(MqttClient))
    const service = yield* connect("time-service")
    yield* service.respond("svc/time", (request) =>
      Effect.succeed(JSON.stringify({ iso: new Date().toISOString(), asked: request.text }))).pipe(Effect.forkScoped)

    const mqtt = yield* connect("asker")
    // Until the service's subscription is in place, a request would find nobody: retry on a short timeout.
    const ask = (question: string) =>
      mqtt.request("svc/time", question, { timeout: "500 millis", responseSchema: Time }).pipe(
        Effect.retry({ times: 10, while: (error) => error._tag === "ResponseTimeout" })
      )
    const answers = yield* Effect.forEach(Array.from({ length: n }, (_, i) => `question ${i + 1}`), ask, { concurrency: "unbounded" })
    const unanswered = yield* Effect.flip(mqtt.request("svc/nobody", "hello?", { timeout: "300 millis" }))
    return { answers: answers.map((a) => a.value), unanswered: unanswered._tag }
  })

const main = Effect.gen(function*() {
  const url = yield* brokerUrl
  const result = yield* requestResponse(url).pipe(needsMqtt5("request-response"))
  for (const answer of result.answers) yield* Console.log(`${answer.asked} -> ${answer.iso}`)
  yield* Console.log(`a request nobody serves: ${result.unanswered}`)
})

if (process.argv[1] === fileURLToPath(import.meta.url)) main.pipe(Effect.scoped, NodeRuntime.runMain)
