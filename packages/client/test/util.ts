/**
 * Small shared helpers for the client's integration tests.
 */
import { type ClientOptions, type ConnectionStatus, MqttClient } from "@aimeqtt/client"
import { type Cause, Context, type Duration, Effect, Fiber, Layer, Option, type Scope, Stream, SubscriptionRef } from "effect"

/** Builds the client layer in the current scope and returns the service. */
export const client = (url: string, options: ClientOptions = {}) =>
  Layer.build(MqttClient.layer({ url, connectTimeout: "5 seconds", ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

/** A fresh client id per test, so broker logs and events can be matched. */
export const uniqueId = (prefix: string): string => `${prefix}-${Math.random().toString(16).slice(2, 10)}`

/** Waits (real clock) until the status satisfies `predicate`; fails with TimeoutError after `timeout`. */
export const awaitStatus = (
  mqtt: MqttClient["Service"],
  predicate: (status: ConnectionStatus) => boolean,
  timeout: Duration.Input = "5 seconds"
): Effect.Effect<ConnectionStatus, Cause.TimeoutError | Error> =>
  SubscriptionRef.changes(mqtt.status).pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new Error("the status stream ended")),
      onSome: Effect.succeed
    })),
    Effect.timeout(timeout)
  )

/**
 * Records every status the client goes through from now on (the current one first), until the scope
 * closes. Returns the live list.
 */
export const recordStatus = (mqtt: MqttClient["Service"]): Effect.Effect<ReadonlyArray<ConnectionStatus>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const seen: Array<ConnectionStatus> = []
    yield* SubscriptionRef.changes(mqtt.status).pipe(
      Stream.runForEach((status) => Effect.sync(() => seen.push(status))),
      Effect.forkScoped({ startImmediately: true })
    )
    return seen
  })

/** Starts collecting `n` elements of a stream at once (so nothing published right after is missed). */
export const collect = <A, E>(stream: Stream.Stream<A, E>, n: number) =>
  stream.pipe(Stream.take(n), Stream.runCollect, Effect.forkScoped({ startImmediately: true }))

/** Joins a fiber, failing with a TimeoutError when it does not finish in time. */
export const joinWithin = <A, E>(fiber: Fiber.Fiber<A, E>, timeout: Duration.Input = "5 seconds") =>
  Fiber.join(fiber).pipe(Effect.timeout(timeout))

/** Milliseconds since an origin, on the real clock. */
export const stopwatch = () => {
  const t0 = Date.now()
  return () => Date.now() - t0
}
