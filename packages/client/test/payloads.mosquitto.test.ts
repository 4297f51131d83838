/**
 * Payload bytes on their way to the socket, against mosquitto: large payloads are written without a copy
 * where that is safe (QoS 1/2, and bytes the client encoded itself), and a caller's `Uint8Array` at QoS 0
 * is copied, so that the caller may reuse it as soon as `publish` completes, even when the socket still
 * holds the bytes (see src/Payloads.ts).
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schedule, Stream } from "effect"
import { describeMosquitto, Mosquitto } from "./brokers/index.ts"
import { awaitStatus, client, collect, joinWithin, uniqueId } from "./util.ts"

/** A payload of `size` bytes: its index (uint32 BE), then `index % 251` in every other byte. */
const fillPayload = (bytes: Uint8Array, index: number): Uint8Array => {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(0, index)
  bytes.fill(index % 251, 4)
  return bytes
}

/** The index a payload carries, or a description of why its bytes are not what `fillPayload` wrote. */
const checkPayload = (bytes: Uint8Array, size: number): number | string => {
  if (bytes.length !== size) return `${bytes.length} bytes, expected ${size}`
  const index = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
  for (let i = 4; i < bytes.length; i++) {
    if (bytes[i] !== index % 251) return `payload ${index}: byte ${i} is ${bytes[i]}, expected ${index % 251}`
  }
  return index
}

/** A text payload of `size` ASCII characters that starts with its index. */
const text = (index: number, size: number): string => `${index}:${"abcdefghij".repeat(Math.ceil(size / 10))}`.slice(0, size)

describeMosquitto("payload bytes on the wire (mosquitto)", () => {
  it.live("a caller may reuse its payload once a QoS 0 publish completes, also while the socket is backed up", () =>
    Effect.gen(function*() {
      const count = 1500
      const size = 8192
      const broker = yield* Mosquitto.start()
      yield* Effect.addFinalizer(() => broker.kill("SIGCONT")) // runs before the broker is stopped
      const subscriber = yield* client(broker.url, { clientId: uniqueId("reuse-sub") })
      const publisher = yield* client(broker.url, { clientId: uniqueId("reuse-pub") })
      const subscription = yield* subscriber.subscription("reuse/x", { qos: 0 })
      const received = yield* subscription.messages.pipe(
        Stream.take(count),
        Stream.runCollect,
        Effect.forkChild({ startImmediately: true })
      )
      // A frozen broker reads nothing: the kernel's buffers fill, then Node's, and the writes wait.
      yield* broker.kill("SIGSTOP")
      const buffer = new Uint8Array(size) // one buffer, rewritten for every message
      let completed = 0
      const publishing = yield* Effect.gen(function*() {
        for (let i = 0; i < count; i++) {
          yield* publisher.publish("reuse/x", fillPayload(buffer, i))
          completed++
        }
      }).pipe(Effect.forkChild({ startImmediately: true }))
      yield* Effect.sleep("700 millis")
      // Otherwise the socket never backed up and the test would prove nothing.
      assert.isBelow(completed, count, "every publish completed while the broker was frozen")
      assert.isAbove(completed, 0)
      yield* broker.kill("SIGCONT")
      yield* Fiber.join(publishing).pipe(Effect.timeout("20 seconds"))
      const messages = yield* Fiber.join(received).pipe(Effect.timeout("20 seconds"))
      const seen = new Set<number>()
      for (const message of messages) {
        const index = checkPayload(message.payload, size)
        if (typeof index === "string") assert.fail(index)
        seen.add(index)
      }
      assert.strictEqual(seen.size, count)
    }))

  // A timeout interrupts a publish whose 16 MiB are still going out to a frozen broker: the flow goes on
  // [MQTT-4.4.0-1], and the broker must get the bytes as published, not the buffer the caller reused.
  const BIG = 16 * 1024 * 1024
  const isOriginal = (bytes: Uint8Array) => bytes.length === BIG && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(0xee) < 0

  for (const qos of [1, 2] as const) {
    it.live(`a QoS ${qos} publish interrupted while its bytes go out: the caller reuses its buffer, the message arrives as published`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        yield* Effect.addFinalizer(() => broker.kill("SIGCONT"))
        const subscriber = yield* client(broker.url, { clientId: uniqueId("cut-sub") })
        const publisher = yield* client(broker.url, { clientId: uniqueId("cut-pub") })
        const subscription = yield* subscriber.subscription("cut/x", { qos: 2 })
        const received = yield* collect(subscription.messages, 1)
        yield* broker.kill("SIGSTOP")
        const buffer = new Uint8Array(BIG).fill(0x11)
        const exit = yield* Effect.exit(publisher.publish("cut/x", buffer, { qos }).pipe(Effect.timeout("300 millis")))
        assert.isTrue(Exit.isFailure(exit), "the publish completed although the broker was frozen")
        buffer.fill(0xee) // the caller's buffer is its own again
        yield* broker.kill("SIGCONT")
        const [message] = yield* joinWithin(received, "30 seconds")
        assert.isTrue(message !== undefined && isOriginal(message.payload), "the message changed after its publish was interrupted")
      }))

    it.live(`a QoS ${qos} publish interrupted, then sent again after a reconnect: the message is still the one published`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        yield* Effect.addFinalizer(() => broker.kill("SIGCONT"))
        const subscriber = yield* client(broker.url, { clientId: uniqueId("again-sub") })
        const publisher = yield* client(broker.url, {
          clientId: uniqueId("again-pub"),
          keepAlive: 2,
          reconnect: Schedule.spaced("200 millis"),
          connectTimeout: "2 seconds"
        })
        const subscription = yield* subscriber.subscription("again/x", { qos: 2 })
        const received = yield* collect(subscription.messages, 1)
        yield* broker.kill("SIGSTOP")
        const buffer = new Uint8Array(BIG).fill(0x11)
        const pending = yield* publisher.publish("again/x", buffer, { qos }).pipe(Effect.forkChild({ startImmediately: true }))
        // The frozen broker answers no PINGREQ: the connection is given up, and the flow waits for the next one.
        yield* awaitStatus(publisher, (status) => status._tag !== "Connected", "8 seconds")
        yield* Fiber.interrupt(pending)
        buffer.fill(0xee)
        yield* broker.kill("SIGCONT")
        const [message] = yield* joinWithin(received, "30 seconds")
        assert.isTrue(message !== undefined && isOriginal(message.payload), "the message sent again was the caller's reused buffer")
      }))
  }

  it.live("large payloads (3 KB to 1 MiB) between small ones arrive intact and in order at QoS 0 (strings), 1 and 2", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const subscriber = yield* client(broker.url, { clientId: uniqueId("large-sub") })
      const publisher = yield* client(broker.url, { clientId: uniqueId("large-pub") })
      const sizes = [10, 3000, 64, 70_000, 2048, 2047, 1_048_579, 5, 4096, 100_000]
      for (const qos of [0, 1, 2] as const) {
        const topic = `large/${qos}`
        const subscription = yield* subscriber.subscription(topic, { qos: 2 })
        const count = sizes.length * 3
        const received = yield* subscription.messages.pipe(
          Stream.take(count),
          Stream.runCollect,
          Effect.forkChild({ startImmediately: true })
        )
        // Started in order, all at once: one write batch mixes small heads, runs and large payloads.
        yield* Effect.forEach(
          Array.from({ length: count }, (_, i) => i),
          (i) => {
            const size = sizes[i % sizes.length] as number
            // At QoS 0 a string: bytes the client encodes itself, written without a copy when large.
            const payload = qos === 0 ? text(i, size) : fillPayload(new Uint8Array(size), i)
            return publisher.publish(topic, payload, { qos })
          },
          { concurrency: "unbounded", discard: true }
        )
        const messages = yield* Fiber.join(received).pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(messages.length, count)
        messages.forEach((message, i) => {
          const size = sizes[i % sizes.length] as number
          if (qos === 0) assert.isTrue(message.text === text(i, size), `message ${i} (${size} bytes) at QoS 0`)
          else assert.strictEqual(checkPayload(message.payload, size), i, `message ${i} (${size} bytes) at QoS ${qos}`)
        })
      }
    }))
})
