/**
 * examples/mqtt5.ts and examples/request-response.ts against mosquitto (MQTT 5.0), and what they say
 * against the embedded aedes broker (MQTT 3.1.1 only).
 */
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { describeMosquitto, Mosquitto } from "../packages/client/test/brokers/index.ts"
import { embeddedBroker } from "./broker.ts"
import { mqtt5Tour } from "./mqtt5.ts"
import { requestResponse } from "./request-response.ts"

describeMosquitto("examples/mqtt5.ts and examples/request-response.ts", () => {
  it.live("the tour: negotiated MQTT 5.0, 0x10 before anyone listens, properties arrive, No Local holds back the echo", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const tour = yield* mqtt5Tour(broker.url)
      assert.strictEqual(tour.negotiated?.protocolVersion, 5)
      assert.isTrue(tour.noMatchingSubscribers)
      assert.strictEqual(tour.contentType, "text/plain; unit=celsius")
      assert.deepStrictEqual(tour.userProperties, [["sensor", "kitchen"], ["firmware", "1.4.2"]])
      assert.strictEqual(tour.ownEchoes, 0)
    }))

  it.live("request/response: five concurrent requests, five matching answers; nobody serving gives ResponseTimeout", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const result = yield* requestResponse(broker.url, 5)
      assert.deepStrictEqual(result.answers.map((a) => a.asked), ["question 1", "question 2", "question 3", "question 4", "question 5"])
      assert.strictEqual(result.unanswered, "ResponseTimeout")
    }))

  it.live("against the embedded aedes broker (3.1.1 only) the connection is refused, typed", () =>
    Effect.gen(function*() {
      const broker = yield* embeddedBroker()
      const error = yield* Effect.flip(mqtt5Tour(broker.url))
      assert.strictEqual(error._tag, "ConnectionRefused")
    }))
})
