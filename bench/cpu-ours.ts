/**
 * The CPU-per-message roles with our client, written as a user would: the publisher is an
 * `Effect.gen` loop that, every tick (`Effect.sleep`), starts the due batch as a child fiber running
 * `Effect.forEach(..., publish, { concurrency })` (not waited for: see `Pacer`); the subscriber
 * consumes its subscription stream with `Stream.runForEachArray`. Clients come from bench/ours.ts (the
 * built package); our client always sets `noDelay: true` on its socket (the `noDelay` argument is for
 * MQTT.js).
 */
import { Cause, Deferred, Effect, Exit, Stream } from "effect"
import { type CpuCase, makeStampedPayload, Pacer, TICK_MS, type PublisherReport, ReceiveMeter, type RoleHooks, type SubscriberReport } from "./cpu-common.ts"
import { client } from "./ours.ts"


export const publisher = (c: CpuCase, url: string, topic: string, clientId: string, hooks: RoleHooks, _noDelay: boolean): Promise<PublisherReport> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const mqtt = yield* client(url, clientId, c.protocolVersion, c.window)
        hooks.ready()
        yield* Effect.promise(() => hooks.signal)
        const pacer = new Pacer(c)
        const payload = makeStampedPayload(c.size)
        const options = { qos: c.qos }
        const publishOne = (seq: number) => mqtt.publish(topic, payload(seq), options)
        let failure: string | undefined
        const batch = (from: number, n: number) =>
          Effect.forEach(Array.from({ length: n }, (_, k) => from + k), publishOne, { concurrency: n, discard: true }).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                if (Exit.isFailure(exit)) failure ??= Cause.pretty(exit.cause)
                pacer.done(n)
              })
            )
          )
        pacer.begin()
        while (!pacer.finished && failure === undefined) {
          const from = pacer.next
          const n = pacer.take()
          if (n > 0) yield* Effect.forkChild(batch(from, n), { startImmediately: true })
          yield* Effect.sleep(TICK_MS)
        }
        if (failure !== undefined) return yield* Effect.fail(new Error(`publish failed: ${failure}`))
        return pacer.finish()
      })
    )
  )

export const subscriber = (c: CpuCase, url: string, topic: string, clientId: string, hooks: RoleHooks, _noDelay: boolean): Promise<SubscriberReport> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const mqtt = yield* client(url, clientId, c.protocolVersion)
        const done = Deferred.makeUnsafe<SubscriberReport>()
        const meter = new ReceiveMeter(c, (report) => Deferred.doneUnsafe(done, Exit.succeed(report)))
        const subscription = yield* mqtt.subscription(topic, { qos: c.qos })
        yield* subscription.messages.pipe(
          Stream.runForEachArray((messages) =>
            Effect.sync(() => {
              for (const message of messages) meter.add(message.payload)
            })
          ),
          Effect.forkChild({ startImmediately: true })
        )
        hooks.ready()
        void hooks.signal.then(() => meter.finish())
        return yield* Deferred.await(done)
      })
    )
  )
