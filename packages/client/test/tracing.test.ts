import { MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Option, Redacted, References, Schedule, Stream, SubscriptionRef, Tracer } from "effect"
import { AedesBroker } from "./brokers/index.ts"
import { collect, joinWithin, waitUntil } from "./util.ts"

const SECRET = "s3cret-Pa55"

/** A tracer that records every span with its attributes, delegating to the built-in one. */
const recording = () => {
  const spans: Array<{ name: string; parent: string | undefined; attributes: Record<string, unknown> }> = []
  const tracer = Tracer.make({
    span(options) {
      const span = Tracer.nativeTracer.span(options)
      const parent = Option.getOrUndefined(options.parent)
      const entry = { name: options.name, parent: parent?._tag === "Span" ? parent.name : undefined, attributes: {} as Record<string, unknown> }
      spans.push(entry)
      const attribute = span.attribute.bind(span)
      span.attribute = (key, value) => {
        entry.attributes[key] = value
        attribute(key, value)
      }
      return span
    }
  })
  return { spans, tracer }
}

describe("tracing and logs", () => {
  it.live("connect, publish and subscribe open spans; no credential appears in spans or logs", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recording()
      const logged: Array<string> = []
      const logger = Logger.make((options) => {
        logged.push(JSON.stringify(options.message))
      })
      const broker = yield* AedesBroker.start({ authenticate: (user, password) => user === "alice" && password === SECRET })
      const program = Effect.gen(function*() {
        const context = yield* Layer.build(
          MqttClient.layer({ url: broker.url, username: "alice", password: Redacted.make(SECRET), clientId: "traced", connectTimeout: "5 seconds" })
        )
        const mqtt = Context.get(context, MqttClient)
        const sub = yield* mqtt.subscription("t/#", { qos: 1 })
        const got = yield* collect(sub.messages, 1)
        yield* mqtt.publish("t/1", "x", { qos: 1 })
        yield* joinWithin(got)
        yield* broker.dropConnections // a lost connection is logged as a warning
        yield* Effect.sleep("300 millis")
      })
      yield* Effect.scoped(program).pipe(
        Effect.withTracer(tracer),
        Effect.provide(Logger.layer([logger]))
      )
      const names = spans.map((span) => span.name)
      for (const name of ["mqtt.connect", "mqtt.subscribe", "mqtt.publish"]) assert.include(names, name)
      const connect = spans.find((span) => span.name === "mqtt.connect")
      assert.strictEqual(connect?.attributes["mqtt.client_id"], "traced")
      assert.strictEqual(spans.find((span) => span.name === "mqtt.publish")?.attributes["mqtt.topic"], "t/1")
      assert.isTrue(logged.some((line) => line.includes("connection lost")), `the lost connection was logged: ${logged.join("; ")}`)
      const everything = JSON.stringify(spans) + logged.join("\n")
      assert.notInclude(everything, SECRET)
    }))

  for (const [option, expected] of [[undefined, "Warn"], ["Debug", "Debug"], ["None", undefined]] as const) {
    it.live(`connectionLossLogLevel ${option ?? "(default)"}: the lost connection is logged at ${expected ?? "no level"}`, () =>
      Effect.gen(function*() {
        const logged: Array<{ readonly level: LogLevel.LogLevel; readonly message: string }> = []
        const logger = Logger.make((entry) => {
          logged.push({ level: entry.logLevel, message: JSON.stringify(entry.message) })
        })
        const broker = yield* AedesBroker.start()
        const program = Effect.gen(function*() {
          const context = yield* Layer.build(MqttClient.layer({
            url: broker.url,
            connectTimeout: "5 seconds",
            reconnect: Schedule.spaced("50 millis"),
            ...(option === undefined ? {} : { connectionLossLogLevel: option })
          }))
          const mqtt = Context.get(context, MqttClient)
          const seen: Array<string> = []
          yield* SubscriptionRef.changes(mqtt.status).pipe(Stream.runForEach((s) => Effect.sync(() => seen.push(s._tag))), Effect.forkScoped)
          yield* waitUntil(() => seen.length > 0, 5000)
          yield* broker.dropConnections
          // Reconnected: the loss (and its log line) came before.
          yield* waitUntil(() => seen.includes("Disconnected") && seen.at(-1) === "Connected", 5000, () => seen.join(", "))
        })
        yield* Effect.scoped(program).pipe(
          Effect.provide(Logger.layer([logger])),
          Effect.provideService(References.MinimumLogLevel, "All")
        )
        const lines = logged.filter((entry) => entry.message.includes("connection lost"))
        assert.deepStrictEqual(lines.map((entry) => entry.level), expected === undefined ? [] : [expected])
      }))
  }
})
