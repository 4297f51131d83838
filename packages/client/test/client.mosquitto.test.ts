/**
 * The client against a real mosquitto (the reference broker): auth, interop with the mosquitto CLI
 * peers, overlapping subscriptions, unsubscribe, retained messages, keep-alive, broker crash and freeze.
 */
import { type ClientOptions, type ConnectionStatus } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Redacted, Schedule, Stream, SubscriptionRef } from "effect"
import { describeMosquitto, Mosquitto, type MosquittoBroker, mosquittoPub, mosquittoSub } from "./brokers/index.ts"
import { awaitStatus, client, collect, joinWithin, recordStatus, stopwatch, uniqueId } from "./util.ts"

/** Waits (polling the broker's log, real clock) until `count` lines match; fails with the log on timeout. */
const awaitLog = (broker: MosquittoBroker, match: (line: string) => boolean, count = 1, timeoutMs = 5000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const lines = (yield* broker.logs).filter(match)
      if (lines.length >= count) return lines
      if (Date.now() > deadline) {
        return yield* Effect.fail(new Error(`timed out waiting for ${count} matching log line(s); log:\n${broker.logText()}`))
      }
      yield* Effect.sleep("25 millis")
    }
  })

const countLog = (broker: MosquittoBroker, match: (line: string) => boolean) =>
  Effect.map(broker.logs, (lines) => lines.filter(match).length)

const isConnected = (s: ConnectionStatus) => s._tag === "Connected"

describeMosquitto("MqttClient against mosquitto", () => {
  // --- 1. authentication ------------------------------------------------------------------------
  it.live("connects with username and password", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ users: { alice: "secret" } })
      const mqtt = yield* client(broker.url, { username: "alice", password: Redacted.make("secret") })
      assert.strictEqual((yield* SubscriptionRef.get(mqtt.status))._tag, "Connected")
      // and the connection is usable
      const sub = yield* mosquittoSub({ port: broker.port, topic: "auth/ok", count: 1, username: "alice", password: "secret" })
      yield* mqtt.publish("auth/ok", "hello", { qos: 1 })
      assert.deepStrictEqual(yield* sub.lines, ["auth/ok hello"])
    }))

  const refusals: ReadonlyArray<readonly [string, ClientOptions]> = [
    ["wrong password", { username: "alice", password: Redacted.make("wrong-pw-Zq9") }],
    ["unknown user", { username: "mallory", password: Redacted.make("wrong-pw-Zq9") }],
    ["anonymous", {}],
    ["username without password", { username: "alice" }]
  ]
  for (const [name, options] of refusals) {
    it.live(`refuses ${name} with ConnectionRefused 5 (not authorized)`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start({ users: { alice: "secret" } })
        const elapsed = stopwatch()
        const caught = yield* Effect.scoped(client(broker.url, { ...options, reconnect: Schedule.spaced("100 millis") })).pipe(
          Effect.as("connected" as const),
          Effect.catchTag("ConnectionRefused", (error) => Effect.succeed(error))
        )
        if (caught === "connected") return assert.fail("expected ConnectionRefused, the client connected")
        assert.strictEqual(caught._tag, "ConnectionRefused")
        assert.strictEqual(caught.returnCode, 5)
        assert.strictEqual(caught.reason, "not authorized")
        // final refusal: not retried until connectTimeout
        assert.isBelow(elapsed(), 2000)
        for (const text of [caught.message, String(caught), JSON.stringify(caught)]) {
          assert.notInclude(text, "wrong-pw-Zq9")
          assert.notInclude(text, "secret")
        }
      }))
  }

  // --- 2. interop with mosquitto_sub / mosquitto_pub ----------------------------------------------
  it.live("publishes at QoS 0, 1 and 2 to mosquitto_sub", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const mqtt = yield* client(broker.url)
      const sub = yield* mosquittoSub({ port: broker.port, topic: "interop/#", count: 3, qos: 2 })
      yield* mqtt.publish("interop/q0", "zero", { qos: 0 })
      yield* mqtt.publish("interop/q1", "one", { qos: 1 })
      yield* mqtt.publish("interop/q2", "two", { qos: 2 })
      const lines = yield* sub.lines
      assert.deepStrictEqual([...lines].sort(), ["interop/q0 zero", "interop/q1 one", "interop/q2 two"])
    }))

  it.live("receives what mosquitto_pub publishes at QoS 0, 1 and 2", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const mqtt = yield* client(broker.url)
      const sub = yield* mqtt.subscription("cli/#", { qos: 2 })
      assert.deepStrictEqual(sub.granted, [2])
      const received = yield* collect(sub.messages, 3)
      yield* mosquittoPub({ port: broker.port, topic: "cli/q0", message: "zero", qos: 0 })
      yield* mosquittoPub({ port: broker.port, topic: "cli/q1", message: "one", qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "cli/q2", message: "two", qos: 2 })
      const messages = yield* joinWithin(received)
      assert.deepStrictEqual(messages.map((m) => [m.topic, m.text, m.qos]), [["cli/q0", "zero", 0], ["cli/q1", "one", 1], [
        "cli/q2",
        "two",
        2
      ]])
      for (const m of messages) assert.isFalse(m.retain)
    }))

  // --- 3. overlapping subscriptions ---------------------------------------------------------------
  it.live("two streams on overlapping filters each get a message once", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const mqtt = yield* client(broker.url)
      const all = yield* mqtt.subscription("a/#")
      const one = yield* mqtt.subscription("a/+")
      const fromAll = yield* collect(all.messages, 2)
      const fromOne = yield* collect(one.messages, 2)
      yield* mosquittoPub({ port: broker.port, topic: "a/x", message: "first" })
      // a second message as a sentinel: a duplicate of the first would come before it
      yield* mosquittoPub({ port: broker.port, topic: "a/y", message: "second" })
      assert.deepStrictEqual((yield* joinWithin(fromAll)).map((m) => m.text), ["first", "second"])
      assert.deepStrictEqual((yield* joinWithin(fromOne)).map((m) => m.text), ["first", "second"])
    }))

  it.live("one stream on two overlapping filters gets a message once", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const mqtt = yield* client(broker.url)
      const sub = yield* mqtt.subscription(["a/#", "a/+"], { qos: 1 })
      assert.deepStrictEqual(sub.granted, [1, 1])
      const received = yield* collect(sub.messages, 2)
      yield* mosquittoPub({ port: broker.port, topic: "a/x", message: "first", qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "a/y", message: "second", qos: 1 })
      assert.deepStrictEqual((yield* joinWithin(received)).map((m) => m.text), ["first", "second"])
    }))

  // --- 4. unsubscribe ----------------------------------------------------------------------------
  it.live("sends UNSUBSCRIBE when the last stream on a filter ends", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const clientId = uniqueId("unsub")
      const mqtt = yield* client(broker.url, { clientId })
      yield* mqtt.subscription("sentinel/#") // stays open for the whole test
      // two streams on the same filter: UNSUBSCRIBE only after the second one ends
      const first = yield* mqtt.subscribe("u/#").pipe(Stream.take(1), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
      const second = yield* mqtt.subscribe("u/#").pipe(Stream.take(2), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
      yield* awaitLog(broker, (l) => l.includes(`Received SUBSCRIBE from ${clientId}`), 3)
      yield* mosquittoPub({ port: broker.port, topic: "u/1", message: "m1" })
      yield* joinWithin(first)
      const unsubscribes = (l: string) => l.includes(`Received UNSUBSCRIBE from ${clientId}`)
      assert.strictEqual(yield* countLog(broker, unsubscribes), 0, "UNSUBSCRIBE while a stream still uses the filter")
      yield* mosquittoPub({ port: broker.port, topic: "u/2", message: "m2" })
      assert.deepStrictEqual((yield* joinWithin(second)).map((m) => m.text), ["m1", "m2"])
      yield* awaitLog(broker, unsubscribes)
      // the broker no longer sends u/#: the next message seen by `messages` is the sentinel
      const next = yield* collect(mqtt.messages, 1)
      yield* Effect.yieldNow
      yield* mosquittoPub({ port: broker.port, topic: "u/3", message: "after" })
      yield* mosquittoPub({ port: broker.port, topic: "sentinel/x", message: "sentinel" })
      assert.deepStrictEqual((yield* joinWithin(next)).map((m) => m.topic), ["sentinel/x"])
    }))

  it.live("explicit unsubscribe resolves after UNSUBACK", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const clientId = uniqueId("unsub2")
      const mqtt = yield* client(broker.url, { clientId })
      yield* mqtt.subscription("x/#")
      yield* mqtt.unsubscribe("x/#").pipe(Effect.timeout("3 seconds"))
      yield* awaitLog(broker, (l) => l.includes(`Received UNSUBSCRIBE from ${clientId}`))
      yield* awaitLog(broker, (l) => l.includes(`Sending UNSUBACK to ${clientId}`))
      // unsubscribing a filter we never subscribed to also resolves
      yield* mqtt.unsubscribe(["never/#", "other/+"]).pipe(Effect.timeout("3 seconds"))
    }))

  // --- 5. retained messages ----------------------------------------------------------------------
  it.live("delivers a retained message with retain = true", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      yield* mosquittoPub({ port: broker.port, topic: "r/state", message: "on", qos: 1, retain: true })
      const mqtt = yield* client(broker.url)
      const messages = yield* mqtt.subscribe("r/#", { qos: 1 }).pipe(Stream.take(1), Stream.runCollect, Effect.timeout("5 seconds"))
      assert.deepStrictEqual(messages.map((m) => [m.topic, m.text, m.retain]), [["r/state", "on", true]])
    }))

  // --- 6. keep-alive -----------------------------------------------------------------------------
  it.live("sends PINGREQ when idle and stays connected", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const clientId = uniqueId("ping")
      const mqtt = yield* client(broker.url, { clientId, keepAlive: 1 })
      const seen = yield* recordStatus(mqtt)
      yield* awaitLog(broker, (l) => l.includes(`Received PINGREQ from ${clientId}`), 2, 4000)
      yield* awaitLog(broker, (l) => l.includes(`Sending PINGRESP to ${clientId}`), 2, 1000)
      assert.deepStrictEqual(seen.map((s) => s._tag), ["Connected"])
      assert.strictEqual((yield* SubscriptionRef.get(mqtt.status))._tag, "Connected")
    }))

  // --- 7. broker crash and restart ---------------------------------------------------------------
  it.live("reconnects after the broker is killed and restarted, and the same stream receives again", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const clientId = uniqueId("crash")
      const mqtt = yield* client(broker.url, { clientId, reconnect: Schedule.spaced("200 millis") })
      const seen = yield* recordStatus(mqtt)
      const sub = yield* mqtt.subscription("k/#", { qos: 1 })
      const received = yield* collect(sub.messages, 2)
      yield* mosquittoPub({ port: broker.port, topic: "k/before", message: "before", qos: 1 })

      yield* broker.kill("SIGKILL")
      yield* awaitStatus(mqtt, (s) => !isConnected(s))
      yield* broker.restart
      yield* awaitStatus(mqtt, isConnected, "5 seconds")
      // the broker lost the session (clean session + crash): the client must subscribe again
      yield* awaitLog(broker, (l) => l.includes(`Received SUBSCRIBE from ${clientId}`), 2)
      yield* awaitLog(broker, (l) => l.includes(`Sending SUBACK to ${clientId}`), 2)
      yield* mosquittoPub({ port: broker.port, topic: "k/after", message: "after", qos: 1 })

      const messages = yield* joinWithin(received)
      assert.deepStrictEqual(messages.map((m) => m.text), ["before", "after"])
      const tags = seen.map((s) => s._tag)
      assert.strictEqual(tags[0], "Connected")
      assert.include(tags, "Disconnected")
      assert.include(tags, "Reconnecting")
      const last = seen[seen.length - 1]
      assert.deepStrictEqual(last?._tag === "Connected" ? last.sessionPresent : undefined, false)
      const lost = seen.find((s) => s._tag === "Disconnected")
      assert.strictEqual(lost?._tag === "Disconnected" ? lost.cause?._tag : undefined, "ConnectionLost")
    }))

  // --- 8. frozen broker --------------------------------------------------------------------------
  it.live("detects a frozen broker (SIGSTOP) within 1.5 x keepAlive", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      yield* Effect.addFinalizer(() => broker.kill("SIGCONT")) // runs before the broker is stopped
      const mqtt = yield* client(broker.url, { keepAlive: 2, reconnect: Schedule.spaced("200 millis"), connectTimeout: "2 seconds" })
      const seen = yield* recordStatus(mqtt)
      const elapsed = stopwatch()
      yield* broker.kill("SIGSTOP")
      const left = yield* awaitStatus(mqtt, (s) => !isConnected(s), "6 seconds")
      const detectedAfter = elapsed()
      assert.isAtMost(detectedAfter, 3500, `dead connection detected after ${detectedAfter} ms`)
      assert.strictEqual(left._tag, "Disconnected")
      assert.strictEqual(left._tag === "Disconnected" ? left.cause?._tag : undefined, "ConnectionLost")
      // once the broker runs again, the client comes back
      yield* broker.kill("SIGCONT")
      yield* awaitStatus(mqtt, isConnected, "8 seconds")
      assert.include(seen.map((s) => s._tag), "Reconnecting")
    }))

  // the client can be closed while the broker is frozen (DISCONNECT cannot be written): it still settles
  it.live("closes promptly while the broker is frozen", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      yield* Effect.addFinalizer(() => broker.kill("SIGCONT"))
      const exit = yield* Effect.gen(function*() {
        const mqtt = yield* client(broker.url, { keepAlive: 30 })
        yield* broker.kill("SIGSTOP")
        const pending = yield* mqtt.publish("f/x", "frozen", { qos: 1 }).pipe(Effect.forkChild({ startImmediately: true }))
        return pending
      }).pipe(Effect.scoped, Effect.timeout("8 seconds"), Effect.exit)
      assert.isTrue(Exit.isSuccess(exit), "closing the client hung")
      if (Exit.isSuccess(exit)) {
        const error = yield* Fiber.join(exit.value).pipe(Effect.flip, Effect.timeout("2 seconds"))
        assert.strictEqual(error._tag, "ClientClosed")
      }
    }))

  // --- 9. the in-flight window -------------------------------------------------------------------
  // mosquitto's default max_inflight_messages is 20: a 3.1.1 client's QoS 2 publishes above it are
  // acknowledged (PUBREC, PUBCOMP) and then dropped. With maxInflight 100 only about 200 of these
  // 1,000 arrived although every publish completed; the default (20) must lose none.
  it.live("default options: 1,000 QoS 2 publishes, 100 at a time, reach a QoS 2 subscriber exactly once (default mosquitto)", () =>
    Effect.gen(function*() {
      const count = 1000
      const broker = yield* Mosquitto.start() // default configuration: max_inflight_messages 20
      const subscriber = yield* client(broker.url, { clientId: uniqueId("burst-sub") })
      const publisher = yield* client(broker.url, { clientId: uniqueId("burst-pub") })
      const subscription = yield* subscriber.subscription("burst/q2", { qos: 2 })
      const seen: Array<number> = new Array(count).fill(0)
      let received = 0
      yield* subscription.messages.pipe(
        Stream.runForEach((message) =>
          Effect.sync(() => {
            const i = Number(new TextDecoder().decode(message.payload))
            seen[i] = (seen[i] ?? 0) + 1
            received++
          })
        ),
        Effect.forkScoped({ startImmediately: true })
      )
      yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) => publisher.publish("burst/q2", String(i), { qos: 2 }).pipe(Effect.timeout("10 seconds")),
        { concurrency: 100, discard: true }
      )
      // every publish completed (PUBCOMP); now every message must arrive, within a bound
      const deadline = Date.now() + 5000
      while (received < count && Date.now() < deadline) yield* Effect.sleep("20 millis")
      yield* Effect.sleep("200 millis") // room for a duplicate to show up
      assert.strictEqual(received, count, `${received} of ${count} QoS 2 messages reached the subscriber`)
      assert.strictEqual(seen.filter((n) => n !== 1).length, 0, "each message exactly once")
    }), 60_000)
})
