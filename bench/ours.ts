/**
 * The cases with our client (@aimeqtt/client), written as a user would: one `MqttClient.layer` per
 * connection, `Effect.forEach(..., publish, { concurrency: window })`, subscription streams consumed
 * with `Stream.runForEachArray`.
 */
import { Context, Deferred, Effect, Exit, Fiber, Layer, Stream } from "effect"
// The built package, as users run it (\`pnpm bench:e2e\` builds first): loading the TypeScript sources
// would also load Node's type stripper, ~16 MB of RSS that MQTT.js (plain JavaScript) does not pay.
import { MqttClient } from "../packages/client/dist/index.js"
import {
  type ConnectCase,
  type LatencyCase,
  latencyMetrics,
  latencyRounds,
  makePayloadFactory,
  percentile,
  type ProtocolVersion,
  SequenceChecker,
  type ThroughputCase,
  type Verification
} from "./common.ts"

export interface CaseResult {
  readonly metrics: Record<string, number>
  readonly verification?: Verification
}

/**
 * A connected client. `maxInflight` is set explicitly to the case's publish window (the equal-effort
 * rule of bench/README.md: MQTT.js keeps as many publishes outstanding). Above the default of 20 this
 * is only safe because bench/broker.ts raises mosquitto's `max_inflight_messages` to 1000: with the
 * broker's default (20), QoS 2 publishes above the window are acknowledged and dropped. Clients that
 * publish no QoS 1/2 burst (subscriber, round trip, connect storm) keep the default.
 */
export const client = (url: string, clientId: string, protocolVersion: ProtocolVersion, maxInflight?: number) =>
  Layer.build(
    MqttClient.layer({
      url,
      clientId,
      protocolVersion,
      keepAlive: 60,
      connectTimeout: "20 seconds",
      ...(maxInflight === undefined ? {} : { maxInflight })
    })
  ).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

export const throughput = (c: ThroughputCase, url: string, runId: string, timeoutMs: number): Promise<CaseResult> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const topic = `bench/tp/${runId}`
        const subscriber = yield* client(url, `ours-sub-${runId}`, c.protocolVersion)
        const publisher = yield* client(url, `ours-pub-${runId}`, c.protocolVersion, c.window)
        const done = Deferred.makeUnsafe<number>()
        const checker = new SequenceChecker(c.count, c.size, (at) => Deferred.doneUnsafe(done, Exit.succeed(at)))
        const subscription = yield* subscriber.subscription(topic, { qos: c.qos })
        const consumer = yield* subscription.messages.pipe(
          Stream.runForEachArray((messages) =>
            Effect.sync(() => {
              for (const message of messages) checker.add(message.payload)
            })
          ),
          Effect.forkChild({ startImmediately: true })
        )
        const payload = makePayloadFactory(c.size)
        const indices = Array.from({ length: c.count }, (_, i) => i)
        const options = { qos: c.qos }
        const start = performance.now()
        yield* Effect.forEach(indices, (i) => publisher.publish(topic, payload(i), options), {
          concurrency: c.window,
          discard: true
        })
        const end = yield* Deferred.await(done).pipe(Effect.timeout(timeoutMs), Effect.orElseSucceed(() => undefined))
        yield* Fiber.interrupt(consumer)
        const elapsed = (end ?? performance.now()) - start
        return {
          metrics: { msgPerSec: end === undefined ? 0 : (c.count / elapsed) * 1000, elapsedMs: elapsed },
          verification: checker.verification()
        }
      })
    )
  )

export const latency = (c: LatencyCase, url: string, runId: string): Promise<CaseResult> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const topic = `bench/rtt/${runId}`
        const mqtt = yield* client(url, `ours-rtt-${runId}`, c.protocolVersion)
        let waiting: Deferred.Deferred<number> | undefined
        const subscription = yield* mqtt.subscription(topic, { qos: c.qos })
        yield* subscription.messages.pipe(
          Stream.runForEachArray(() =>
            Effect.sync(() => {
              const now = performance.now()
              if (waiting !== undefined) Deferred.doneUnsafe(waiting, Exit.succeed(now))
            })
          ),
          Effect.forkChild({ startImmediately: true })
        )
        const payload = makePayloadFactory(64)
        const rounds: Array<number> = []
        const options = { qos: c.qos }
        for (let i = 0; i < latencyRounds(c); i++) {
          const received = Deferred.makeUnsafe<number>()
          waiting = received
          const start = performance.now()
          yield* mqtt.publish(topic, payload(i), options)
          const at = yield* Deferred.await(received)
          rounds.push(at - start)
        }
        return { metrics: latencyMetrics(c, rounds) }
      })
    )
  )

export const connect = (c: ConnectCase, url: string, runId: string): Promise<CaseResult> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const allDone = Deferred.makeUnsafe<void>()
      const times: Array<number> = []
      const start = performance.now()
      const one = (i: number) =>
        Effect.scoped(
          Effect.gen(function*() {
            const mqtt = yield* client(url, `ours-storm-${runId}-${i}`, c.protocolVersion)
            yield* mqtt.subscribe(c.topic).pipe(Stream.take(1), Stream.runDrain)
            times.push(performance.now() - start)
            if (times.length === c.clients) Deferred.doneUnsafe(allDone, Exit.void)
            yield* Deferred.await(allDone) // everyone stays connected until the last one got its message
          })
        )
      yield* Effect.forEach(Array.from({ length: c.clients }, (_, i) => i), one, { concurrency: "unbounded", discard: true })
      times.sort((a, b) => a - b)
      return { metrics: { totalMs: times[times.length - 1]!, p50Ms: percentile(times, 50) } }
    })
  )
