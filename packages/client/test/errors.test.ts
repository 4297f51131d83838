/**
 * The errors' contract with users (issue 12): each operation declares the errors it can really produce
 * (checked by the type checker: `tsc -p .` runs over this file), every error says whether retrying can
 * help (`isRetryable`), and the dialer asks the error rather than its own table (`connectRetry`).
 */
import {
  type AckableMessage,
  type ClientOptions,
  ClientClosed,
  ConnectError,
  ConnectionLost,
  ConnectionRefused,
  type ConnectionFailure,
  InvalidOptions,
  InvalidTopic,
  type LayerError,
  MqttClient,
  OfflineQueueFull,
  PayloadDecodeError,
  PayloadEncodeError,
  PayloadTooLarge,
  ProtocolError,
  type PublishError,
  type RequestResponseError,
  SessionStoreError,
  type SubscribeError,
  SubscriptionRejected,
  TlsError,
  type UnsubscribeError
} from "@aimeqtt/client"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Effect, Layer, Schedule, Schema, type Scope, type Stream } from "effect"
import { FakeBroker } from "./brokers/index.ts"

type Service = MqttClient["Service"]
type ErrorOf<T> = T extends Effect.Effect<infer _A, infer E, infer _R> ? E : T extends Stream.Stream<infer _A, infer E, infer _R> ? E : never

describe("each operation declares its own errors", () => {
  it("publish, subscribe, subscription, unsubscribe and the layer", () => {
    const check = (mqtt: Service) => {
      const plain = mqtt.publish("t", "x")
      expectTypeOf<ErrorOf<typeof plain>>().toEqualTypeOf<PublishError>()
      const typed = mqtt.publish("t", { n: 1 }, { schema: Schema.Struct({ n: Schema.Number }) })
      expectTypeOf<ErrorOf<typeof typed>>().toEqualTypeOf<PublishError>()
      const stream = mqtt.subscribe("t")
      expectTypeOf<ErrorOf<typeof stream>>().toEqualTypeOf<SubscribeError>()
      const typedStream = mqtt.subscribe("t", { schema: Schema.Struct({ n: Schema.Number }) })
      expectTypeOf<ErrorOf<typeof typedStream>>().toEqualTypeOf<SubscribeError | PayloadDecodeError>()
      // A policy that skips undecodable messages: the stream cannot fail with PayloadDecodeError.
      const skipping = mqtt.subscribe("t", { schema: Schema.Struct({ n: Schema.Number }), onDecodeError: "skip" })
      expectTypeOf<ErrorOf<typeof skipping>>().toEqualTypeOf<SubscribeError>()
      const reporting = mqtt.subscribe("t", { schema: Schema.Struct({ n: Schema.Number }), onDecodeError: () => Effect.void, ack: "manual" })
      expectTypeOf<ErrorOf<typeof reporting>>().toEqualTypeOf<SubscribeError>()
      const held: Effect.Effect<unknown, SubscribeError, Scope.Scope> = mqtt.subscription("t")
      // A manual-ack subscription's messages carry `ack` in their type too.
      const manual = mqtt.subscription("t", { ack: "manual" })
      expectTypeOf<Effect.Success<typeof manual>["messages"]>().toEqualTypeOf<Stream.Stream<AckableMessage, SubscriptionRejected | ConnectionFailure>>()
      const unsubscribed = mqtt.unsubscribe("t")
      expectTypeOf<ErrorOf<typeof unsubscribed>>().toEqualTypeOf<UnsubscribeError>()
      // MQTT 5.0 request/response: PayloadDecodeError only with a responseSchema.
      const asked = mqtt.request("svc", "x")
      expectTypeOf<ErrorOf<typeof asked>>().toEqualTypeOf<Exclude<RequestResponseError, PayloadDecodeError>>()
      const typedAsk = mqtt.request("svc", "x", { responseSchema: Schema.Struct({ n: Schema.Number }) })
      expectTypeOf<ErrorOf<typeof typedAsk>>().toEqualTypeOf<RequestResponseError>()
      return held
    }
    // A publish cannot fail with a subscription's refusal; an unsubscribe not with a payload size.
    expectTypeOf<SubscriptionRejected>().not.toMatchTypeOf<PublishError>()
    expectTypeOf<PayloadTooLarge>().not.toMatchTypeOf<UnsubscribeError>()
    expectTypeOf<PayloadTooLarge>().not.toMatchTypeOf<SubscribeError>()
    expectTypeOf<InvalidOptions>().not.toMatchTypeOf<UnsubscribeError>()
    expectTypeOf<Layer.Error<ReturnType<typeof MqttClient.layer>>>().toEqualTypeOf<LayerError>()
    // A reconnect schedule may read why it is asked (its input is the ConnectionFailure).
    const stopOnTakeover: Schedule.Schedule<number, ConnectionFailure> = Schedule.recurs(5).pipe(
      Schedule.while<ConnectionFailure, number>(({ input }) => input._tag !== "DisconnectedByServer" || input.reasonCode !== 0x8e)
    )
    expectTypeOf(stopOnTakeover).toMatchTypeOf<NonNullable<ClientOptions["reconnect"]>>()
    // So `catchTags` over exactly these tags leaves nothing.
    const handled = (mqtt: Service): Effect.Effect<unknown> =>
      mqtt.publish("t", "x").pipe(Effect.catchTags({
        InvalidTopic: () => Effect.void,
        PayloadTooLarge: () => Effect.void,
        PayloadEncodeError: () => Effect.void,
        InvalidOptions: () => Effect.void,
        OfflineQueueFull: () => Effect.void,
        ClientClosed: () => Effect.void,
        ConnectionRefused: () => Effect.void,
        ConnectError: () => Effect.void,
        ConnectionLost: () => Effect.void,
        ProtocolError: () => Effect.void,
        DisconnectedByServer: () => Effect.void,
        PublishRejected: () => Effect.void,
        UnsupportedByServer: () => Effect.void
      }))
    assert.isFunction(check)
    assert.isFunction(handled)
  })
})

describe("publish without schema (item 11)", () => {
  it("takes a string or bytes; any other value is a type error that names options.schema", () => {
    const check = (mqtt: Service, text: string | Uint8Array) => [
      mqtt.publish("t", "on"),
      mqtt.publish("t", new Uint8Array([1])),
      mqtt.publish("t", text, { qos: 1 }),
      mqtt.publish("t", { celsius: 21 }, { schema: Schema.Struct({ celsius: Schema.Number }) }),
      // @ts-expect-error a payload other than a string or a Uint8Array needs options.schema to encode it
      mqtt.publish("t", { celsius: 21 }),
      // @ts-expect-error the same for a number
      mqtt.publish("t", 21, { qos: 1 })
    ]
    assert.isFunction(check)
  })
})

describe("isRetryable", () => {
  it("says whether trying again, unchanged, may succeed", () => {
    const tls = new TlsError({ reason: "unknown-ca", message: "unable to verify the first certificate" })
    const table: ReadonlyArray<readonly [{ readonly _tag: string; readonly isRetryable: boolean }, boolean]> = [
      [ConnectionRefused.fromReturnCode(3), true],
      ...([1, 2, 4, 5] as const).map((code) => [ConnectionRefused.fromReturnCode(code), false] as const),
      [new ConnectError({ message: "ECONNREFUSED" }), true],
      [new ConnectError({ message: "TLS", cause: tls }), false],
      [new ConnectError({ message: "last attempt", cause: new ConnectError({ message: "TLS", cause: tls }) }), false],
      [tls, false],
      [new ConnectionLost({ message: "closed" }), true],
      [new ProtocolError({ message: "bad" }), true],
      [new OfflineQueueFull({ capacity: 1 }), true],
      [new SubscriptionRejected({ filters: ["a"], reasonCodes: [0x80] }), false],
      [new InvalidOptions({ message: "x" }), false],
      [new InvalidTopic({ topic: "a/#/b", reason: "x" }), false],
      [new ClientClosed(), false],
      [new PayloadTooLarge({ size: 2, limit: 1 }), false],
      [PayloadDecodeError.fromPayload("t", new Uint8Array(1), "x"), false],
      [new PayloadEncodeError({ topic: "t", message: "x" }), false],
      [new SessionStoreError({ message: "disk full" }), false],
      [new ConnectError({ message: "the store did not open", cause: new SessionStoreError({ message: "file is not a database" }) }), false]
    ]
    for (const [error, retryable] of table) assert.strictEqual(error.isRetryable, retryable, `${error._tag}: ${String(error)}`)
    // Every connection failure answers it (the dialer relies on that).
    const failures: ReadonlyArray<ConnectionFailure> = [new ConnectionLost({ message: "x" }), new ProtocolError({ message: "x" })]
    assert.deepStrictEqual(failures.map((f) => f.isRetryable), [true, true])
  })
})

describe("connectRetry: the first connection asks the error, and tries each broker once without retries", () => {
  // A broker that closes every connection before CONNACK: a retryable ConnectError each time.
  const closing = FakeBroker.start(FakeBroker.scripts.closeAfterConnect())
  const layer = (urls: ReadonlyArray<string>, connectRetry?: boolean) =>
    Layer.build(MqttClient.layer({
      urls,
      connectTimeout: "20 seconds",
      reconnect: Schedule.spaced("20 millis"),
      ...(connectRetry === undefined ? {} : { connectRetry })
    }))

  it.live("connectRetry: false fails with the first attempt's error after one connection", () =>
    Effect.gen(function*() {
      const broker = yield* closing
      const error = yield* layer([broker.url], false).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(error._tag, "ConnectError")
      assert.notInclude(error.message, "within", "not the connect timeout")
      assert.strictEqual(broker.connectionCount(), 1)
    }))

  it.live("connectRetry: false with two brokers tries each once", () =>
    Effect.gen(function*() {
      const a = yield* closing
      const b = yield* closing
      const error = yield* layer([a.url, b.url], false).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(error._tag, "ConnectError")
      assert.deepStrictEqual([a.connectionCount(), b.connectionCount()], [1, 1])
    }))

  it.live("by default a retryable error is retried (here until a later attempt is refused for good)", () =>
    Effect.gen(function*() {
      // Three connections closed before CONNACK, then CONNACK 5 (not authorized), which is not retryable.
      const broker = yield* FakeBroker.start((conn) =>
        conn.index <= 3
          ? FakeBroker.scripts.closeAfterConnect()(conn)
          : FakeBroker.scripts.connack(5)(conn)
      )
      const error = yield* layer([broker.url]).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(error._tag, "ConnectionRefused")
      assert.strictEqual(broker.connectionCount(), 4)
    }))
})
