/**
 * Browser example: connects over `ws://`/`wss://` to the broker named in the page's query string
 * (`?url=ws://127.0.0.1:9001/mqtt&topic=demo/%23`), subscribes and lists the messages as they arrive.
 * Bundled by `build.ts` with the `browser` condition, so `@aimeqtt/client` uses the global
 * `WebSocket` and no Node module.
 *
 * `#status` carries `data-state`: starting, connecting, subscribed or error.
 */
import { MqttClient } from "@aimeqtt/client"
import { Effect, Stream } from "effect"
import { page, params, show, url } from "./page.ts"

const topic = params.get("topic") ?? "#"
const list = page.document.getElementById("messages")

const program = Effect.gen(function*() {
  const mqtt = yield* MqttClient
  const subscription = yield* mqtt.subscription(topic)
  yield* show("subscribed", `subscribed to ${topic} on ${url}`)
  yield* subscription.messages.pipe(
    Stream.runForEach((message) =>
      Effect.sync(() => {
        const item = page.document.createElement("li")
        item.textContent = `${message.topic}: ${message.text}`
        list?.append(item)
      })
    )
  )
}).pipe(
  Effect.scoped,
  Effect.provide(MqttClient.layer({ url, connectTimeout: "10 seconds" })),
  Effect.catch((error) => show("error", `error: ${error.message}`))
)

Effect.runFork(Effect.andThen(show("connecting", `connecting to ${url}…`), program))
