/**
 * MQTT 5.0 and overlapping subscriptions, against mosquitto 2.0.11, which sends an MQTT 5.0 client one copy
 * of a message per matching subscription [MQTT-3.3.4-3]. A newcomer found streams getting every message
 * twice: the filters of one SUBSCRIBE share its Subscription Identifier, so a copy sent for one filter went
 * to the streams of all of them. A stream whose filter another stream re-subscribed, and (after a reconnect
 * without a session, when one SUBSCRIBE re-subscribed every filter) any two streams with overlapping
 * filters got duplicates. Now every filter has its own identifier (one SUBSCRIBE per filter): streams on
 * different filters get each message once. A stream on two filters that both match still gets a copy per
 * filter (see Subscriptions.#matchIdentified: taking one could lose the single copy mosquitto sends for a
 * message queued while the client was away).
 */
import type { Message } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { describeMosquitto, Mosquitto } from "./brokers/index.ts"
import { awaitStatus, client, uniqueId } from "./util.ts"

const v5 = { protocolVersion: 5 } as const

/** The topics a stream received up to and including the first `end/...` message (a sentinel sent last). */
const untilEnd = (messages: Stream.Stream<Message, unknown>) =>
  messages.pipe(
    Stream.takeUntil((m) => m.topic.endsWith("/end")),
    Stream.map((m) => `${m.topic} ${m.text}`),
    Stream.runCollect,
    Effect.timeout("10 seconds"),
    Effect.forkChild({ startImmediately: true })
  )

describeMosquitto("MQTT 5.0: overlapping subscriptions deliver each message once per stream (mosquitto)", () => {
  it.live("a stream on a/#, then a stream on a/b and a/# (a/# re-subscribed): the first gets each message once, the second every one", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const subscriber = yield* client(broker.url, { ...v5, clientId: uniqueId("shared-filter") })
      const publisher = yield* client(broker.url, { ...v5, clientId: uniqueId("pub") })
      const first = yield* subscriber.subscription("a/#", { qos: 1 })
      const second = yield* subscriber.subscription(["a/b", "a/#"], { qos: 1 })
      const gotFirst = yield* untilEnd(first.messages)
      const gotSecond = yield* untilEnd(second.messages)
      for (const i of [1, 2, 3]) yield* publisher.publish("a/b", `m${i}`, { qos: 1 })
      yield* publisher.publish("a/end", "end", { qos: 1 })
      // Before, the copy sent for a/b (same identifier as a/#, one SUBSCRIBE) reached the first stream too.
      assert.deepStrictEqual(yield* Fiber.join(gotFirst), ["a/b m1", "a/b m2", "a/b m3", "a/end end"])
      // The second stream's two filters both match a/b: a copy per filter (see README, MQTT 5.0), none lost.
      const second2 = yield* Fiber.join(gotSecond)
      assert.deepStrictEqual([...new Set(second2)], ["a/b m1", "a/b m2", "a/b m3", "a/end end"])
    }))

  it.live("after a reconnect without a session (one re-subscribe of every filter), streams on a/# and a/b get each message once", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start() // no persistence: the restarted broker has no session
      const subscriber = yield* client(broker.url, { ...v5, clientId: uniqueId("resub") })
      const all = yield* subscriber.subscription("a/#", { qos: 1 })
      const one = yield* subscriber.subscription("a/b", { qos: 1 })
      const gotAll = yield* untilEnd(all.messages)
      const gotB = yield* one.messages.pipe(
        Stream.map((m) => `${m.topic} ${m.text}`),
        Stream.take(3),
        Stream.runCollect,
        Effect.timeout("15 seconds"),
        Effect.forkChild({ startImmediately: true })
      )
      yield* broker.restart
      yield* awaitStatus(subscriber, (s) => s._tag === "Reconnecting" || s._tag === "Disconnected", "10 seconds").pipe(Effect.ignore)
      yield* awaitStatus(subscriber, (s) => s._tag === "Connected", "10 seconds")
      const publisher = yield* client(broker.url, { ...v5, clientId: uniqueId("pub") })
      // The re-subscribe may still be on its way: a SUBSCRIBE sent after it, answered, says it was processed.
      const probe = yield* subscriber.subscription("probe/#", { qos: 1 })
      const probed = yield* probe.messages.pipe(Stream.take(1), Stream.runDrain, Effect.timeout("10 seconds"), Effect.forkChild({ startImmediately: true }))
      yield* publisher.publish("probe/x", "p", { qos: 1 })
      yield* Fiber.join(probed)
      for (const i of [1, 2, 3]) yield* publisher.publish("a/b", `m${i}`, { qos: 1 })
      yield* publisher.publish("a/end", "end", { qos: 1 })
      assert.deepStrictEqual(yield* Fiber.join(gotAll), ["a/b m1", "a/b m2", "a/b m3", "a/end end"])
      // the a/b stream: exactly its three (a duplicate would have come before a/end reached the other stream)
      assert.deepStrictEqual(yield* Fiber.join(gotB), ["a/b m1", "a/b m2", "a/b m3"])
    }))
})
