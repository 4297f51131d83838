/**
 * Values that get past the types (`any` from `JSON.parse`, an untyped config) fail typed, before anything is
 * queued, and leave the client working. Before, such a payload was encoded as garbage: the writer died, the
 * publish (and every later one) never settled and `status` stayed `Connected`. Also: a Schema payload
 * round-trips through its canonical JSON (a `Date` came back as a decode error).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { AedesBroker } from "./brokers/index.ts"
import { client, collect, joinWithin } from "./util.ts"

/** Anything at all, as a value typed `any` would bring it. */
const untyped = <T>(value: unknown): T => value as T

/** Values whose conversion to a string throws: each must be refused typed, never thrown or a defect. */
const hostile = (): ReadonlyArray<readonly [string, unknown]> => {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return [
    ["Object.create(null)", Object.create(null)],
    ["a throwing toString", { toString: () => { throw new Error("no string for you") } }],
    ["a throwing Symbol.toPrimitive", { [Symbol.toPrimitive]: () => { throw new Error("no primitive") } }],
    ["a revoked Proxy", proxy],
    ["a symbol", Symbol("s")]
  ]
}

describe("arguments the types cannot stop", () => {
  it.live("topics and filters that cannot be turned into a string fail typed in publish, subscribe, subscription and unsubscribe", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      for (const [name, value] of hostile()) {
        const calls: ReadonlyArray<readonly [string, () => Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>]> = [
          ["publish", () => mqtt.publish(untyped<string>(value), "x")],
          ["publish QoS 1", () => mqtt.publish(untyped<string>(value), "x", { qos: 1 })],
          ["subscribe", () => Stream.runDrain(mqtt.subscribe(untyped<string>(value)).pipe(Stream.take(1)))],
          ["subscribe [filter]", () => Stream.runDrain(mqtt.subscribe(untyped<Array<string>>([value])).pipe(Stream.take(1)))],
          ["subscription", () => mqtt.subscription(untyped<string>(value)).pipe(Effect.scoped)],
          ["unsubscribe", () => mqtt.unsubscribe(untyped<string>(value))],
          ["unsubscribe [filter]", () => mqtt.unsubscribe(untyped<Array<string>>(["ok", value]))]
        ]
        for (const [call, run] of calls) {
          const exit = yield* Effect.exit(Effect.suspend(run).pipe(Effect.timeout("3 seconds")))
          assert.isTrue(exit._tag === "Failure", `${call}(${name}) succeeded`)
          const error = yield* Effect.flip(Effect.suspend(run))
          assert.strictEqual(error._tag, "InvalidTopic", `${call}(${name}): ${error.message}`)
        }
      }
      // and the client still works
      yield* mqtt.publish("ok/topic", "x", { qos: 1 }).pipe(Effect.timeout("3 seconds"))
    }))


  // publish checks a topic name once and remembers the last valid one: an invalid topic after it is still refused.
  it.live("publish: every invalid topic fails typed, before and after a valid one is published (and the same one again)", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      for (const topic of ["a/b", "a/+", "a/b", "a/#", "a/b", "", "a/b", "a\u0000b", "a/b/", "a/b/"]) {
        const exit = yield* Effect.exit(mqtt.publish(topic, "x").pipe(Effect.timeout("3 seconds")))
        const valid = !topic.includes("+") && !topic.includes("#") && topic !== "" && !topic.includes("\u0000")
        if (valid) assert.isTrue(exit._tag === "Success", `publish to ${JSON.stringify(topic)}`)
        else {
          assert.isTrue(exit._tag === "Failure", `publish to ${JSON.stringify(topic)} succeeded`)
          const error = yield* Effect.flip(mqtt.publish(topic, "x"))
          assert.strictEqual(error._tag, "InvalidTopic")
        }
      }
    }))

  it.live("publish: a payload that is not a string or bytes, a bad QoS or topic fail typed; the client keeps working", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      const cases: ReadonlyArray<readonly [Effect.Effect<void, { readonly _tag: string; readonly message: string }>, string, string]> = [
        [mqtt.publish("x", untyped<string>({ a: 1 })), "PayloadEncodeError", "got an object"],
        [mqtt.publish("x", untyped<string>({ a: 1 }), { qos: 1 }), "PayloadEncodeError", "got an object"],
        [mqtt.publish("x", untyped<string>(undefined)), "PayloadEncodeError", "got undefined"],
        [mqtt.publish("x", untyped<string>(null)), "PayloadEncodeError", "got null"],
        [mqtt.publish("x", untyped<string>(42), { qos: 2 }), "PayloadEncodeError", "got a number"],
        [mqtt.publish("x", untyped<string>([1, 2])), "PayloadEncodeError", "got an array"],
        [mqtt.publish("x", "ok", untyped<{ qos: 0 }>({ qos: 3 })), "InvalidOptions", "qos must be 0, 1 or 2"],
        [mqtt.publish("x", "ok", untyped<{ retain: boolean }>({ retain: "yes" })), "InvalidOptions", "retain must be a boolean"],
        [mqtt.publish(untyped<string>(undefined), "ok"), "InvalidTopic", "a topic must be a string"]
      ]
      for (const [publish, tag, text] of cases) {
        const error = yield* Effect.flip(publish).pipe(Effect.timeout("3 seconds"))
        assert.strictEqual(error._tag, tag, error.message)
        assert.include(error.message, text)
      }
      // Nothing was sent, nothing is stuck.
      const sub = yield* mqtt.subscription("x", { qos: 1 })
      const got = yield* collect(sub.messages, 1)
      yield* mqtt.publish("x", "good", { qos: 1 }).pipe(Effect.timeout("3 seconds"))
      const [message] = yield* joinWithin(got)
      assert.strictEqual(message?.text, "good")
    }))

  it.live("subscribe, subscription and unsubscribe: filters that are not strings and options out of range fail typed", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      const first = <A, E extends { readonly _tag: string; readonly message: string }>(stream: Stream.Stream<A, E>) =>
        Stream.runHead(stream).pipe(Effect.flip, Effect.timeout("3 seconds"))
      const cases: ReadonlyArray<readonly [Effect.Effect<{ readonly _tag: string; readonly message: string }, unknown>, string, string]> = [
        [first(mqtt.subscribe(untyped<string>(5))), "InvalidTopic", "filters must be a string or an array of strings"],
        [first(mqtt.subscribe(untyped<Array<string>>(["a", 7]))), "InvalidTopic", "a topic must be a string"],
        [first(mqtt.subscribe("a", untyped<{ qos: 0 }>({ qos: 7 }))), "InvalidOptions", "qos must be 0, 1 or 2"],
        [first(mqtt.subscribe("a", untyped<{ bufferSize: number }>({ bufferSize: 0 }))), "InvalidOptions", "bufferSize must be a positive integer"],
        [first(mqtt.subscribe("a", untyped<{ ack: "auto" }>({ ack: "later" }))), "InvalidOptions", "ack must be"],
        [Effect.scoped(Effect.flip(mqtt.subscription(untyped<string>(undefined)))), "InvalidTopic", "filters must be"],
        [Effect.flip(mqtt.unsubscribe(untyped<string>(null))), "InvalidTopic", "filters must be"]
      ]
      for (const [attempt, tag, text] of cases) {
        const error = yield* attempt
        assert.strictEqual(error._tag, tag, error.message)
        assert.include(error.message, text)
      }
      yield* mqtt.publish("still/works", "yes", { qos: 1 }).pipe(Effect.timeout("3 seconds"))
    }))
})

describe("Schema payloads travel as the value's canonical JSON", () => {
  it.live("a Date (and NaN) published with a Schema decode with the same Schema", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      const Reading = Schema.Struct({ at: Schema.Date, celsius: Schema.Number })
      const got = yield* collect(mqtt.subscribe("readings", { qos: 1, schema: Reading }), 1)
      // Published until the stream has it (the first may come before the SUBACK): no wait on the clock.
      const publishing = Effect.forever(
        Effect.andThen(mqtt.publish("readings", { at: new Date(0), celsius: Number.NaN }, { qos: 1, schema: Reading }), Effect.sleep("100 millis"))
      )
      const [message] = yield* joinWithin(got).pipe(Effect.raceFirst(publishing))
      assert.strictEqual(message?.value.at.toISOString(), "1970-01-01T00:00:00.000Z")
      assert.isTrue(Number.isNaN(message?.value.celsius))
    }))
})

