/**
 * MQTT 5.0 request/response [MQTT-4.10]: `request` publishes with a Response Topic and a fresh
 * Correlation Data and waits for the one message on the response topic that carries the same
 * Correlation Data; `respond` serves the other side.
 *
 * One response subscription per client, made on the first `request` and kept for the client's life: its
 * topic is `{Response Information}/{random}` when the broker offered Response Information
 * [MQTT-3.2.2.3.14], else `aimeqtt/responses/{random}`. Responses are matched by Correlation Data, so
 * concurrent requests share it.
 *
 * @since 0.3.0
 */
import { Deferred, Duration, Effect, Exit, Option, Scope, Stream } from "effect"
import { InvalidOptions, ResponseTimeout } from "./errors.ts"
import type { Negotiated } from "./Handshake.ts"
import type { Message } from "./Message.ts"
import type { PublishResult } from "./Message.ts"
import type { PublishPropertiesInput } from "./MqttClient.ts"
import type { PublishError, SubscribeError } from "./errors.ts"

/** What the requester needs from the client. */
export interface RequesterDeps {
  readonly publish: (
    topic: string,
    payload: Uint8Array,
    options: { readonly qos: 0 | 1 | 2; readonly properties: PublishPropertiesInput }
  ) => Effect.Effect<PublishResult, PublishError>
  readonly subscription: (filter: string) => Effect.Effect<{ readonly messages: Stream.Stream<Message, unknown> }, SubscribeError, Scope.Scope>
  readonly negotiated: () => Negotiated | undefined
  readonly protocolVersion: 4 | 5
  /** The client's scope: the response subscription lives as long as the client. */
  readonly scope: Scope.Scope
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
const randomBytes = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n))

/** A client's requester: `request` sends one request and waits for its response. @since 0.3.0 */
export const makeRequester = (deps: RequesterDeps) => {
  const waiting = new Map<string, Deferred.Deferred<Message>>()
  let responseTopic: Deferred.Deferred<string, SubscribeError> | undefined

  /** Subscribes to the response topic once (the first caller does it, the others wait for its SUBACK). */
  const responses = Effect.suspend((): Effect.Effect<string, SubscribeError> => {
    if (responseTopic !== undefined) return Deferred.await(responseTopic)
    const ready = Deferred.makeUnsafe<string, SubscribeError>()
    responseTopic = ready
    const base = deps.negotiated()?.responseInformation
    const topic = `${base !== undefined && base !== "" ? base.replace(/\/+$/, "") : "aimeqtt/responses"}/${hex(randomBytes(8))}`
    const route = (message: Message) =>
      Effect.sync(() => {
        const correlation = message.properties?.correlationData
        const key = correlation === undefined ? undefined : hex(correlation)
        const waiter = key === undefined ? undefined : waiting.get(key)
        if (key !== undefined && waiter !== undefined) {
          waiting.delete(key)
          Deferred.doneUnsafe(waiter, Exit.succeed(message))
          return undefined
        }
        return message
      }).pipe(
        Effect.flatMap((late) =>
          late === undefined
            ? Effect.void
            : Effect.logDebug(`MQTT: a response on ${late.topic} matched no waiting request (it timed out or was interrupted); dropped`)
        )
      )
    // Set up in its own fiber in the client's scope, so that a caller that times out or is interrupted while it
    // runs does not take the other callers' subscription with it.
    const setup = Effect.gen(function*() {
      // Subscribed in the client's scope: it lasts as long as the client.
      const subscription = yield* deps.subscription(topic).pipe(Scope.provide(deps.scope))
      yield* subscription.messages.pipe(
        Stream.runForEach(route),
        Effect.ignore,
        Effect.ensuring(Effect.sync(() => {
          if (responseTopic === ready) responseTopic = undefined // ended: the next request subscribes again
        })),
        Effect.forkIn(deps.scope)
      )
      return topic
    }).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          if (Exit.isFailure(exit) && responseTopic === ready) responseTopic = undefined
          Deferred.doneUnsafe(ready, exit)
        })
      )
    )
    return Effect.andThen(Effect.forkIn(setup, deps.scope), Deferred.await(ready))
  })

  return {
    request: (
      topic: string,
      payload: Uint8Array,
      options: { readonly qos?: 0 | 1 | 2; readonly timeout?: Duration.Duration | undefined; readonly properties?: PublishPropertiesInput | undefined }
    ): Effect.Effect<Message, PublishError | SubscribeError | InvalidOptions | ResponseTimeout> =>
      Effect.gen(function*() {
        if (deps.protocolVersion !== 5) {
          return yield* new InvalidOptions({ message: "request needs MQTT 5.0 (Response Topic, Correlation Data): set protocolVersion: 5 on the client" })
        }
        const correlationData = randomBytes(16)
        const key = hex(correlationData)
        const response = Deferred.makeUnsafe<Message>()
        const exchange = Effect.gen(function*() {
          const responseTopic = yield* responses
          waiting.set(key, response)
          yield* deps.publish(topic, payload, {
            qos: options.qos ?? 1,
            properties: { ...options.properties, responseTopic, correlationData }
          })
          return yield* Deferred.await(response)
        })
        const timeout = options.timeout
        // The timeout covers the whole exchange: the response subscription and a request waiting offline included.
        const bounded = timeout === undefined ? exchange : exchange.pipe(
          Effect.timeoutOption(timeout),
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new ResponseTimeout({ topic, timeoutMillis: Duration.toMillis(timeout) })),
            onSome: Effect.succeed
          }))
        )
        return yield* bounded.pipe(Effect.ensuring(Effect.sync(() => waiting.delete(key))))
      })
  }
}
