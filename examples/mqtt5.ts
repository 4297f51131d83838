/**
 * MQTT 5.0 in one program:   MQTT_URL=mqtt://localhost:1883 npx -y pnpm@10 example:mqtt5
 *
 * - what the broker's CONNACK negotiated (`status`'s `Connected.negotiated`);
 * - properties on a message: user properties, content type, a message expiry;
 * - the publish result: "No matching subscribers" (0x10) is a success with a flag;
 * - subscription options: No Local (the client's own messages do not come back);
 * - reason codes as typed errors: a refused publish, subscribe or connection names its code.
 *
 * Needs an MQTT 5.0 broker (mosquitto 2, EMQX, HiveMQ, ...); the embedded aedes broker speaks 3.1.1 only.
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Stream, SubscriptionRef } from "effect"
import { fileURLToPath } from "node:url"
import { brokerUrl, needsMqtt5 } from "./broker.ts"

/** The tour, against `url`; returns what it saw. */
export const mqtt5Tour = (url: string) =>
  Effect.gen(function*() {
    const mqtt = Context.get(yield* Layer.build(MqttClient.layer({ url, protocolVersion: 5 })), MqttClient)
    const status = yield* SubscriptionRef.get(mqtt.status)
    const negotiated = status._tag === "Connected" ? status.negotiated : undefined

    // Nobody listens yet: the broker says so (MQTT 5.0 brokers that support it answer 0x10).
    const first = yield* mqtt.publish("tour/readings", "21.5", { qos: 1 })

    const readings = yield* mqtt.subscription("tour/#", { qos: 1, noLocal: false })
    const mine = yield* mqtt.subscription("tour/echo", { qos: 1, noLocal: true })
    yield* mqtt.publish("tour/readings", "21.5", {
      qos: 1,
      properties: {
        contentType: "text/plain; unit=celsius",
        messageExpiryInterval: 60, // seconds: the broker drops it after that
        userProperties: { sensor: "kitchen", firmware: "1.4.2" }
      }
    })
    yield* mqtt.publish("tour/echo", "not for me", { qos: 1 }) // No Local: `mine` never sees it
    const [reading] = yield* readings.messages.pipe(Stream.filter((m) => m.topic === "tour/readings"), Stream.take(1), Stream.runCollect)
    const echoes = yield* mine.messages.pipe(Stream.take(1), Stream.runCollect, Effect.timeoutOption("300 millis"))
    return {
      negotiated,
      noMatchingSubscribers: first.noMatchingSubscribers,
      contentType: reading?.properties?.contentType,
      userProperties: reading?.properties?.userProperties,
      ownEchoes: echoes._tag === "Some" ? echoes.value.length : 0
    }
  })

const main = Effect.gen(function*() {
  const url = yield* brokerUrl
  const tour = yield* mqtt5Tour(url).pipe(needsMqtt5("mqtt5"))
  yield* Console.log("negotiated:", tour.negotiated)
  yield* Console.log(`first publish, before anyone subscribed: noMatchingSubscribers = ${tour.noMatchingSubscribers}`)
  yield* Console.log(`received: content type ${tour.contentType}, user properties ${JSON.stringify(tour.userProperties)}`)
  yield* Console.log(`own messages seen on the No Local subscription: ${tour.ownEchoes}`)
})

if (process.argv[1] === fileURLToPath(import.meta.url)) main.pipe(Effect.scoped, NodeRuntime.runMain)
