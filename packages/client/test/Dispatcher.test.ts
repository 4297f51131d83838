/**
 * Dispatcher: fan-out (routed by Subscriptions), the unmatched buffer of a persistent session, drops and
 * backpressure. Subscription state itself is tested in Subscriptions.test.ts.
 */
import type { QoS } from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Fiber, Logger, PubSub, Queue, Stream } from "effect"
import { Dispatcher, type Subscriber } from "../src/Dispatcher.ts"
import type { ConnectionFailure, SubscriptionRejected } from "../src/errors.ts"
import { Message } from "../src/Message.ts"

const utf8 = new TextEncoder()
const message = (topic: string, qos: QoS = 0) => new Message(topic, utf8.encode(topic), qos, false, false)

const makeDispatcher = (unmatchedCapacity = 10, allCapacity = 64, persistent = true) =>
  Effect.sync(() => new Dispatcher(allCapacity, { persistent, unsubscribeOnEnd: true, unmatchedCapacity }))

const subscriber = (filters: ReadonlyArray<string | [string, QoS]>, capacity = 16) =>
  Effect.map(Queue.bounded<Message, SubscriptionRejected | ConnectionFailure | Cause.Done>(capacity), (inbox) => {
    const requests: Subscriber["requests"] = filters.map((f) => typeof f === "string" ? { filter: f, qos: 0 as const } : { filter: f[0], qos: f[1] })
    const s = { requests, inbox, manual: false } // plain (auto-ack) stream
    return s
  })

/** Everything currently in an inbox (without waiting). */
const drain = (inbox: Queue.Queue<Message, SubscriptionRejected | ConnectionFailure | Cause.Done>) =>
  Effect.map(Queue.clear(inbox), (messages) => messages.map((m) => m.topic))

describe("fan-out", () => {
  it.effect("a message matching two filters of one subscriber arrives once", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s = yield* subscriber(["a/#", "a/+", "+/b", "a/b"])
      d.register(s)
      yield* d.dispatch(message("a/b"))
      assert.deepStrictEqual(yield* drain(s.inbox), ["a/b"])
    }))

  it.effect("two subscribers each get it; a non-matching one does not", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s1 = yield* subscriber(["sensors/#"])
      const s2 = yield* subscriber(["sensors/+/temp"])
      const s3 = yield* subscriber(["other"])
      for (const s of [s1, s2, s3]) d.register(s)
      yield* d.dispatch(message("sensors/k1/temp"))
      yield* d.dispatch(message("sensors/k1/hum"))
      assert.deepStrictEqual(yield* drain(s1.inbox), ["sensors/k1/temp", "sensors/k1/hum"])
      assert.deepStrictEqual(yield* drain(s2.inbox), ["sensors/k1/temp"])
      assert.deepStrictEqual(yield* drain(s3.inbox), [])
    }))

  it.effect("the same Message object is delivered (no copy) and in dispatch order", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s = yield* subscriber(["#"])
      d.register(s)
      const messages = ["x", "y/z", "x"].map((t) => message(t))
      for (const m of messages) yield* d.dispatch(m)
      const got = yield* Queue.clear(s.inbox)
      assert.strictEqual(got.length, 3)
      got.forEach((m, i) => assert.strictEqual(m, messages[i]))
    }))

  // The topic -> streams cache must follow every register / unregister.
  it.effect("a stream added after a topic was seen gets that topic's next messages", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(0)
      const s1 = yield* subscriber(["a/b"])
      d.register(s1)
      yield* d.dispatch(message("a/b"))
      yield* d.dispatch(message("a/c")) // no stream: remembered as going nowhere
      const s2 = yield* subscriber(["a/+"])
      d.register(s2)
      yield* d.dispatch(message("a/b"))
      yield* d.dispatch(message("a/c"))
      assert.deepStrictEqual(yield* drain(s1.inbox), ["a/b", "a/b"])
      assert.deepStrictEqual(yield* drain(s2.inbox), ["a/b", "a/c"])
    }))

  it.effect("a removed stream gets nothing from a topic seen before it left", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(0)
      const s1 = yield* subscriber(["a/#"])
      const s2 = yield* subscriber(["a/b", "a/+"])
      d.register(s1)
      d.register(s2)
      yield* d.dispatch(message("a/b"))
      d.unregister(s2)
      yield* d.dispatch(message("a/b"))
      assert.deepStrictEqual(yield* drain(s1.inbox), ["a/b", "a/b"])
      assert.deepStrictEqual(yield* drain(s2.inbox), ["a/b"])
    }))

  it.effect("many distinct topics (more than the cache holds) are each delivered to the right streams", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(0)
      const even = yield* subscriber(["even/#"], 5000)
      const odd = yield* subscriber(["odd/+"], 5000)
      d.register(even)
      d.register(odd)
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 1500; i++) yield* d.dispatch(message(`${i % 2 === 0 ? "even" : "odd"}/${i}`))
      }
      const evens = yield* drain(even.inbox)
      const odds = yield* drain(odd.inbox)
      assert.strictEqual(evens.length, 1500)
      assert.strictEqual(odds.length, 1500)
      assert.isTrue(evens.every((t) => t.startsWith("even/")) && odds.every((t) => t.startsWith("odd/")))
    }))

  it.effect("every message, matched or not, is published to `all`", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const sub = yield* PubSub.subscribe(yield* d.all)
      const s = yield* subscriber(["a"])
      d.register(s)
      yield* d.dispatch(message("a"))
      yield* d.dispatch(message("unmatched"))
      assert.deepStrictEqual((yield* PubSub.takeAll(sub)).map((m) => m.topic), ["a", "unmatched"])
    }))

  it.effect("`$` topics are not matched by # or + at the first level", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s = yield* subscriber(["#", "+/info"])
      d.register(s)
      yield* d.dispatch(message("$SYS/info"))
      assert.deepStrictEqual(yield* drain(s.inbox), [])
    }))
})

describe("unmatched buffer", () => {
  it.effect("non-matching messages wait and go to the next subscriber with a matching filter", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(10)
      yield* d.dispatch(message("a/1"))
      yield* d.dispatch(message("b/1"))
      yield* d.dispatch(message("a/2"))
      const s = yield* subscriber(["a/+"])
      const buffered = d.register(s)
      assert.deepStrictEqual(buffered.map((m) => m.topic), ["a/1", "a/2"]) // oldest first
      assert.deepStrictEqual(yield* drain(s.inbox), []) // handed back by register, not put in the inbox
      // taken out of the buffer: a second matching subscriber gets nothing
      const s2 = yield* subscriber(["a/#"])
      assert.deepStrictEqual(d.register(s2), [])
      // the others still wait
      const s3 = yield* subscriber(["b/1"])
      assert.deepStrictEqual(d.register(s3).map((m) => m.topic), ["b/1"])
    }))

  it.effect("a message matched by an open stream is not buffered", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(10)
      const s = yield* subscriber(["a"])
      d.register(s)
      yield* d.dispatch(message("a"))
      const late = yield* subscriber(["a"])
      assert.deepStrictEqual(d.register(late), [])
    }))

  it.effect("over capacity the oldest is dropped and counted as evicted", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(2)
      for (const t of ["m/1", "m/2", "m/3", "m/4"]) yield* d.dispatch(message(t))
      assert.deepStrictEqual(d.drops, { evicted: 2, ended: 0, "no-stream": 0 })
      const s = yield* subscriber(["m/#"])
      assert.deepStrictEqual(d.register(s).map((m) => m.topic), ["m/3", "m/4"])
      yield* d.dispatch(message("z"))
      assert.strictEqual(d.drops.evicted, 2)
    }))

  it.effect("dropping an unmatched message logs a warning (the first, then every 1000th)", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const logger = Logger.make((options) => {
        logged.push(`${options.logLevel} ${String(options.message)}`)
      })
      const d = yield* makeDispatcher(1)
      const run = Effect.forEach(Array.from({ length: 1002 }, (_, i) => `u/${i}`), (t) => d.dispatch(message(t)), { discard: true })
      yield* run.pipe(Effect.provide(Logger.layer([logger])))
      assert.strictEqual(logged.length, 2, logged.join("\n"))
      assert.match(logged[0] as string, /^Warn.*unmatchedBufferSize/)
    }))

  it.effect("capacity 0 keeps nothing", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(0)
      yield* d.dispatch(message("a"))
      const s = yield* subscriber(["a"])
      assert.deepStrictEqual(d.register(s), [])
      assert.deepStrictEqual(d.drops, { evicted: 0, ended: 0, "no-stream": 1 })
    }))

  // Issue 11, item 4: the tail of an ended subscription (sent before the broker's UNSUBACK,
  // [MQTT-3.10.4-3]) must not be replayed to a later subscription on the same filter.
  it.effect("the tail of an ended stream's filter is dropped, not kept for the next stream", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(10)
      const s = yield* subscriber(["a"])
      d.register(s)
      d.unregister(s)
      yield* d.dispatch(message("a")) // before the UNSUBSCRIBE went out
      assert.deepStrictEqual(d.subscriptions.takeReleased(), ["a"])
      yield* d.dispatch(message("a")) // after it, before UNSUBACK
      assert.deepStrictEqual(yield* drain(s.inbox), [])
      const s2 = yield* subscriber(["a"])
      assert.deepStrictEqual(d.register(s2), [])
      assert.deepStrictEqual(d.drops, { evicted: 0, ended: 2, "no-stream": 0 })
      // the new stream gets what comes after its SUBSCRIBE
      yield* d.dispatch(message("a"))
      assert.deepStrictEqual(yield* drain(s2.inbox), ["a"])
    }))

  it.effect("a clean session keeps nothing for later streams: a message no stream matches is dropped and counted", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(10, 64, false)
      yield* d.dispatch(message("x/1"))
      const s = yield* subscriber(["x/#"])
      assert.deepStrictEqual(d.register(s), [])
      assert.deepStrictEqual(d.drops, { evicted: 0, ended: 0, "no-stream": 1 })
    }))
})

describe("streams", () => {
  it.effect("an unregistered subscriber receives nothing more", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s1 = yield* subscriber(["a"])
      const s2 = yield* subscriber(["a"])
      d.register(s1)
      d.register(s2)
      d.unregister(s1)
      yield* d.dispatch(message("a"))
      assert.deepStrictEqual(yield* drain(s1.inbox), [])
      assert.deepStrictEqual(yield* drain(s2.inbox), ["a"])
    }))

  it.effect("hasManual follows manual streams, unregistering twice included", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const m = { ...(yield* subscriber(["a"])), manual: true }
      d.register(m)
      assert.isTrue(d.hasManual)
      d.unregister(m)
      d.unregister(m)
      assert.isFalse(d.hasManual)
    }))
})

describe("backpressure", () => {
  it.effect("a full inbox makes dispatch suspend until the consumer takes", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const slow = yield* subscriber(["t"], 1)
      const fast = yield* subscriber(["t"], 16)
      d.register(slow)
      d.register(fast)
      yield* d.dispatch(message("t", 1)) // fills `slow`
      const second = message("t", 2)
      const fiber = yield* d.dispatch(second).pipe(Effect.forkChild({ startImmediately: true }))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.isUndefined(fiber.pollUnsafe(), "dispatch returned while the inbox is full")
      // the other subscriber already has it: only the full one waits
      assert.strictEqual(yield* Queue.size(fast.inbox), 2)
      assert.strictEqual((yield* Queue.take(slow.inbox)).qos, 1)
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.isDefined(fiber.pollUnsafe(), "dispatch still suspended after the consumer took")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* Queue.take(slow.inbox), second)
    }))

  it.effect("dispatch returns at once while there is room", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s = yield* subscriber(["t"], 2)
      d.register(s)
      assert.strictEqual(d.dispatch(message("t")), Effect.void)
      assert.strictEqual(d.dispatch(message("t")), Effect.void)
      assert.notStrictEqual(d.dispatch(message("t")), Effect.void) // full: the slow path
    }))

  it.effect("a full `all` PubSub also holds dispatch back", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher(10, 1)
      const sub = yield* PubSub.subscribe(yield* d.all)
      yield* d.dispatch(message("x/1"))
      const fiber = yield* d.dispatch(message("x/2")).pipe(Effect.forkChild({ startImmediately: true }))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.isUndefined(fiber.pollUnsafe())
      assert.strictEqual((yield* PubSub.take(sub)).topic, "x/1")
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* PubSub.take(sub)).topic, "x/2")
    }))

  it.effect("an ended inbox does not block dispatch", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s = yield* subscriber(["t"], 1)
      d.register(s)
      yield* Queue.end(s.inbox)
      const fiber = yield* d.dispatch(message("t")).pipe(Effect.forkChild({ startImmediately: true }))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      assert.isDefined(fiber.pollUnsafe())
    }))
})

describe("endAll", () => {
  it.effect("ends every stream after its buffered messages", () =>
    Effect.gen(function*() {
      const d = yield* makeDispatcher()
      const s1 = yield* subscriber(["a"])
      const s2 = yield* subscriber(["b"])
      d.register(s1)
      d.register(s2)
      yield* d.dispatch(message("a"))
      d.endAll()
      assert.deepStrictEqual((yield* Stream.runCollect(Stream.fromQueue(s1.inbox))).map((m) => m.topic), ["a"])
      assert.deepStrictEqual(yield* Stream.runCollect(Stream.fromQueue(s2.inbox)), [])
    }))
})
