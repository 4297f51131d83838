/**
 * A persistent session's backlog larger than a stream's buffer, sent by the broker before it answers the
 * SUBSCRIBE: the stream cannot be read before SUBACK, so the reader must not wait for room in its buffer
 * (it would never read the SUBACK). Every message arrives, in order.
 */
import { AckableMessage } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope, Stream } from "effect"
import { describeMosquitto, Mosquitto } from "./brokers/index.ts"
import { client, clientIn, range, uniqueId } from "./util.ts"

describeMosquitto("a backlog larger than the stream's buffer before SUBACK (mosquitto)", () => {
  const cases = [
    { qos: 1, ack: "auto", protocolVersion: 4 },
    { qos: 1, ack: "manual", protocolVersion: 4 },
    { qos: 2, ack: "auto", protocolVersion: 4 },
    { qos: 2, ack: "manual", protocolVersion: 4 },
    { qos: 1, ack: "auto", protocolVersion: 5 },
    { qos: 2, ack: "manual", protocolVersion: 5 }
  ] as const
  for (const { ack, protocolVersion, qos } of cases) {
    it.live(`MQTT ${protocolVersion === 5 ? "5.0" : "3.1.1"}, QoS ${qos}, ${ack} ack: 2000 queued messages through a buffer of 16, all in order, once`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start({ extraConfig: "max_inflight_messages 0\nmax_queued_messages 100000" })
        const id = uniqueId("backlog")
        const options = { url: broker.url, clientId: id, cleanSession: false, subscriberBufferSize: 16, protocolVersion } as const
        const first = yield* Scope.make()
        const a = yield* clientIn(first, options)
        yield* a.subscription("big/#", { qos })
        yield* Scope.close(first, Exit.void)
        const pub = yield* client(broker.url, { clientId: uniqueId("pub") })
        yield* Effect.forEach(range(2000), (i) => pub.publish("big/x", String(i), { qos }), { concurrency: 100, discard: true })
        const b = yield* client(broker.url, options)
        const subscription = yield* b.subscription("big/#", { qos, ack }).pipe(Effect.timeout("10 seconds"))
        const got = yield* subscription.messages.pipe(
          Stream.take(2000),
          Stream.mapEffect((m) => m instanceof AckableMessage ? Effect.as(m.ack, m.text) : Effect.succeed(m.text)),
          Stream.runCollect,
          Effect.forkChild({ startImmediately: true })
        )
        const texts = yield* Fiber.join(got).pipe(Effect.timeout("20 seconds"))
        assert.deepStrictEqual(texts.map(Number), range(2000))
      }).pipe(Effect.scoped), 40_000)
  }
})
