/**
 * Issue 11, part E: options that must not silently switch off a guarantee.
 * - item 8: an undecodable payload either fails the stream (default) with an error that carries the topic
 *   and a bounded copy of the payload, or is reported and skipped (`onDecodeError`);
 * - item 9: `{ schema, ack: "manual" }` yields typed messages that carry `ack`, and their PUBACK goes out
 *   only once `ack` ran.
 */
import { type AckableTypedMessage, PAYLOAD_SAMPLE_BYTES, type PayloadDecodeError } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Queue, Schema, Stream } from "effect"
import { AedesBroker } from "./brokers/index.ts"
import { client, collect, joinWithin, uniqueId, waitUntil } from "./util.ts"

const Reading = Schema.Struct({ n: Schema.Number })

describe("undecodable payloads (item 8)", () => {
  it.live("by default the stream fails with PayloadDecodeError carrying the topic, a bounded copy of the payload and its size", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const clientId = uniqueId("decode-fail")
      const mqtt = yield* client(broker.url, { clientId })
      const failed = yield* mqtt.subscribe("j/#", { schema: Reading }).pipe(Stream.runCollect, Effect.flip, Effect.forkChild({ startImmediately: true }))
      yield* broker.awaitEvent(`subscribe:${clientId}:j/#`)
      const big = "x".repeat(5000)
      yield* broker.publish("j/big", big)
      const error = yield* joinWithin(failed)
      assert.strictEqual(error._tag, "PayloadDecodeError")
      if (error._tag !== "PayloadDecodeError") return
      assert.strictEqual(error.topic, "j/big")
      assert.strictEqual(error.payloadSize, 5000)
      assert.strictEqual(error.payload.length, PAYLOAD_SAMPLE_BYTES)
      assert.strictEqual(new TextDecoder().decode(error.payload), big.slice(0, PAYLOAD_SAMPLE_BYTES))
    }))

  it.live("onDecodeError: \"skip\" logs the bad message and goes on with the next one", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const clientId = uniqueId("decode-skip")
      const logged: Array<string> = []
      const logger = Logger.make((options) => {
        logged.push(`${options.logLevel} ${String(options.message)}`)
      })
      const mqtt = yield* client(broker.url, { clientId })
      const received = yield* mqtt.subscribe("j/#", { schema: Reading, onDecodeError: "skip", qos: 1 }).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.provide(Logger.layer([logger])),
        Effect.forkChild({ startImmediately: true })
      )
      yield* broker.awaitEvent(`subscribe:${clientId}:j/#`)
      yield* broker.publish("j/a", JSON.stringify({ n: 1 }), { qos: 1 })
      yield* broker.publish("j/bad", "not json", { qos: 1 })
      yield* broker.publish("j/b", JSON.stringify({ n: 2 }), { qos: 1 })
      const values = yield* joinWithin(received)
      assert.deepStrictEqual(values.map((m) => m.value), [{ n: 1 }, { n: 2 }])
      assert.isTrue(logged.some((l) => l.startsWith("Warn") && l.includes("j/bad")), logged.join("\n"))
    }))

  it.live("onDecodeError as a function receives each PayloadDecodeError; the stream goes on", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const clientId = uniqueId("decode-report")
      const reported: Array<PayloadDecodeError> = []
      const mqtt = yield* client(broker.url, { clientId })
      const received = yield* collect(
        mqtt.subscribe("j/#", { schema: Reading, onDecodeError: (error) => Effect.sync(() => reported.push(error)) }),
        1
      )
      yield* broker.awaitEvent(`subscribe:${clientId}:j/#`)
      yield* broker.publish("j/shape", JSON.stringify({ n: "one" }))
      yield* broker.publish("j/ok", JSON.stringify({ n: 3 }))
      assert.deepStrictEqual((yield* joinWithin(received)).map((m) => m.value), [{ n: 3 }])
      assert.deepStrictEqual(reported.map((e) => [e.topic, new TextDecoder().decode(e.payload)]), [["j/shape", "{\"n\":\"one\"}"]])
    }))
})

describe("manual acknowledgement with a schema (item 9)", () => {
  it.live("typed messages carry ack; the PUBACK goes out only once it ran", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const acked: Array<unknown> = []
      broker.broker.on("ack", (packet) => acked.push(packet))
      const clientId = uniqueId("typed-manual")
      const mqtt = yield* client(broker.url, { clientId })
      const inbox = yield* Queue.unbounded<AckableTypedMessage<{ readonly n: number }>>()
      // the element type says it: `ack` is there without a cast
      const stream: Stream.Stream<AckableTypedMessage<{ readonly n: number }>, unknown> = mqtt.subscribe("jobs/#", {
        schema: Reading,
        qos: 1,
        ack: "manual"
      })
      yield* stream.pipe(Stream.runForEach((m) => Queue.offer(inbox, m)), Effect.forkScoped({ startImmediately: true }))
      yield* broker.awaitEvent(`subscribe:${clientId}:jobs/#`)
      yield* broker.publish("jobs/1", JSON.stringify({ n: 1 }), { qos: 1 })
      const message = yield* Queue.take(inbox)
      assert.deepStrictEqual(message.value, { n: 1 })
      yield* Effect.sleep("200 millis")
      assert.strictEqual(acked.length, 0, "no PUBACK before ack")
      yield* message.ack
      yield* waitUntil(() => acked.length >= 1, 5000, () => "the PUBACK after ack")
      assert.strictEqual(acked.length, 1)
    }))

  it.live("a skipped undecodable message on a manual stream is acknowledged, so later acknowledgements are not held back", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const acked: Array<unknown> = []
      broker.broker.on("ack", (packet) => acked.push(packet))
      const clientId = uniqueId("typed-manual-skip")
      const mqtt = yield* client(broker.url, { clientId })
      const received = yield* collect(
        mqtt.subscribe("jobs/#", { schema: Reading, qos: 1, ack: "manual", onDecodeError: "skip" }).pipe(Stream.tap((m) => m.ack)),
        1
      )
      yield* broker.awaitEvent(`subscribe:${clientId}:jobs/#`)
      yield* broker.publish("jobs/bad", "not json", { qos: 1 })
      yield* broker.publish("jobs/good", JSON.stringify({ n: 2 }), { qos: 1 })
      assert.deepStrictEqual((yield* joinWithin(received)).map((m) => m.topic), ["jobs/good"])
      yield* waitUntil(() => acked.length >= 2, 5000, () => `${acked.length} of 2 PUBACKs went out`)
    }))
})
