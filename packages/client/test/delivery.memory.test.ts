/**
 * Memory stays bounded under a burst (issue 5, test 6): 100,000 QoS 0 messages from mosquitto to our
 * subscriber, read by a slow consumer. The subscription's bounded buffer and the reader's backpressure
 * (it stops pulling from the socket while the buffer is full) keep the heap flat; the backlog waits in
 * the kernel's socket buffers and in the broker.
 *
 * Its own file (so its own worker) for a heap that other tests do not disturb.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import { describeMosquitto, Mosquitto } from "./brokers/index.ts"
import { client, uniqueId } from "./util.ts"

/** `global.gc`, exposed at run time when vitest did not start node with `--expose-gc`. */
const gc: (() => void) | undefined = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (typeof exposed === "function") return exposed
  try {
    V8.setFlagsFromString("--expose-gc")
    const fn: unknown = Vm.runInNewContext("gc")
    return typeof fn === "function" ? () => (fn as () => void)() : undefined
  } catch {
    return undefined
  }
})()

const MB = 1024 * 1024
const heapAfterGc = () => {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed
}

describeMosquitto("memory under a burst (mosquitto)", () => {
  it.live("100,000 QoS 0 messages through a slow consumer: all arrive in order, the heap stays bounded", () =>
    Effect.gen(function*() {
      const N = 100_000
      // No queue limits (QoS 0 to a slow online client must not be dropped). `log_dest none`: with the
      // helper's `log_type all`, mosquitto logs two lines per message and the helper keeps every stderr line in
      // this process's heap (100,000 messages add ~100 MB of strings there, and the helper's
      // `logs.push(...lines)` overflows the stack when the broker stops).
      const broker = yield* Mosquitto.start({ extraConfig: "max_queued_messages 0\nmax_queued_bytes 0\nlog_dest none" })
      const sub = yield* client(broker.url, { clientId: uniqueId("burst-sub") })
      const pub = yield* client(broker.url, { clientId: uniqueId("burst-pub") })
      const subscription = yield* sub.subscription("burst/#", { qos: 0 })

      const before = heapAfterGc()
      let peak = before
      const sampler = yield* Effect.sync(() => {
        peak = Math.max(peak, process.memoryUsage().heapUsed)
      }).pipe(Effect.andThen(Effect.sleep("20 millis")), Effect.forever, Effect.forkChild({ startImmediately: true }))

      // the slow consumer: a 1 ms pause every 10 messages (at most ~9,000 messages/s), slower than the publisher
      let received = 0
      let outOfOrder = 0
      let lastSeq = -1
      const t0 = Date.now()
      const consumer = yield* subscription.messages.pipe(
        Stream.take(N),
        Stream.runForEach((m) => {
          const seq = Number(m.text)
          if (seq !== lastSeq + 1) outOfOrder++
          lastSeq = seq
          received++
          return received % 10 === 0 ? Effect.sleep("1 millis") : Effect.void
        }),
        Effect.forkChild({ startImmediately: true })
      )
      yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) => pub.publish("burst/x", `${i}`), { discard: true })
      const published = Date.now() - t0
      const receivedWhenPublished = received
      yield* Fiber.join(consumer).pipe(Effect.timeout("60 seconds"))
      const consumed = Date.now() - t0
      yield* Fiber.interrupt(sampler)
      const after = heapAfterGc()
      const growth = (after - before) / MB
      const peakGrowth = (peak - before) / MB
      console.log(
        `burst: ${N} QoS 0 messages published in ${published} ms (consumer at ${receivedWhenPublished} then), ` +
          `all consumed in ${consumed} ms; heap before ${(before / MB).toFixed(1)} MB, peak +${peakGrowth.toFixed(1)} MB, ` +
          `after (gc ${gc === undefined ? "unavailable" : "run"}) +${growth.toFixed(1)} MB`
      )
      assert.strictEqual(received, N)
      assert.strictEqual(outOfOrder, 0)
      // the consumer was slower than the publisher: the backlog had to wait somewhere
      assert.isBelow(receivedWhenPublished, N)
      assert.isBelow(peakGrowth, gc === undefined ? 200 : 64, "peak heap growth (MB)")
      assert.isBelow(growth, gc === undefined ? 200 : 10, "heap growth after gc (MB)")
    }), 90_000)
})
