/**
 * Keep-alive: the pure `nextAction` decision table and the `run` loop driven by TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { ConnectionLost } from "../src/errors.ts"
import { type Liveness, nextAction, run } from "../src/KeepAlive.ts"

const KEEP_ALIVE = 10_000
const PING_TIMEOUT = 5_000

// ---------------------------------------------------------------------------------------------------------------
// nextAction

describe("nextAction", () => {
  const cases: Array<[string, Liveness, number, ReturnType<typeof nextAction>]> = [
    ["fresh connection: wait a full keep-alive", { lastSent: 0, lastReceived: 0, pingSentAt: undefined }, 0, { _tag: "Wait", millis: 10_000 }],
    ["1 ms before the keep-alive", { lastSent: 0, lastReceived: 0, pingSentAt: undefined }, 9_999, { _tag: "Wait", millis: 1 }],
    ["exactly at the keep-alive: ping", { lastSent: 0, lastReceived: 0, pingSentAt: undefined }, 10_000, { _tag: "Ping" }],
    ["late (the loop overslept): ping", { lastSent: 0, lastReceived: 0, pingSentAt: undefined }, 12_345, { _tag: "Ping" }],
    ["sending only: receive silence still pings", { lastSent: 9_000, lastReceived: 2_000, pingSentAt: undefined }, 10_000, { _tag: "Wait", millis: 2_000 }],
    ["sending only, receive silence reached", { lastSent: 11_900, lastReceived: 2_000, pingSentAt: undefined }, 12_000, { _tag: "Ping" }],
    ["receiving only: send silence pings", { lastSent: 2_000, lastReceived: 9_000, pingSentAt: undefined }, 11_000, { _tag: "Wait", millis: 1_000 }],
    ["receiving only, send silence reached", { lastSent: 2_000, lastReceived: 11_999, pingSentAt: undefined }, 12_000, { _tag: "Ping" }],
    ["traffic both ways: due keep-alive after the older one", { lastSent: 8_000, lastReceived: 7_000, pingSentAt: undefined }, 10_000, { _tag: "Wait", millis: 7_000 }],
    ["ping just sent: wait the ping timeout", { lastSent: 10_000, lastReceived: 0, pingSentAt: 10_000 }, 10_000, { _tag: "Wait", millis: 5_000 }],
    ["1 ms before the ping timeout", { lastSent: 10_000, lastReceived: 0, pingSentAt: 10_000 }, 14_999, { _tag: "Wait", millis: 1 }],
    ["exactly at the ping timeout: dead", { lastSent: 10_000, lastReceived: 0, pingSentAt: 10_000 }, 15_000, { _tag: "Dead" }],
    ["long after the ping timeout: dead", { lastSent: 10_000, lastReceived: 0, pingSentAt: 10_000 }, 60_000, { _tag: "Dead" }],
    ["a pending ping ignores the timestamps (the reader clears pingSentAt)", { lastSent: 14_000, lastReceived: 14_000, pingSentAt: 10_000 }, 14_500, { _tag: "Wait", millis: 500 }]
  ]

  it.each(cases)("%s", (_name, liveness, now, expected) => {
    assert.deepStrictEqual(nextAction({ keepAliveMillis: KEEP_ALIVE, pingTimeoutMillis: PING_TIMEOUT, liveness }, now), expected)
  })

  it("does not modify the liveness record", () => {
    const liveness: Liveness = { lastSent: 0, lastReceived: 0, pingSentAt: undefined }
    nextAction({ keepAliveMillis: KEEP_ALIVE, pingTimeoutMillis: PING_TIMEOUT, liveness }, 20_000)
    assert.deepStrictEqual(liveness, { lastSent: 0, lastReceived: 0, pingSentAt: undefined })
  })
})

// ---------------------------------------------------------------------------------------------------------------
// run, on TestClock

/**
 * Starts the loop the way a connection does: the liveness record starts at "now", sending a PINGREQ
 * updates `lastSent` (as the writer does), `receive()` is the reader seeing bytes.
 */
const start = (keepAliveMillis = KEEP_ALIVE, pingTimeoutMillis = PING_TIMEOUT) =>
  Effect.gen(function*() {
    const t0 = yield* Clock.currentTimeMillis
    const liveness: Liveness = { lastSent: t0, lastReceived: t0, pingSentAt: undefined }
    const pings: Array<number> = [] // relative to t0
    const fiber = yield* run({
      keepAliveMillis,
      pingTimeoutMillis,
      liveness,
      sendPing: () => {
        const at = liveness.pingSentAt ?? Number.NaN
        pings.push(at - t0)
        liveness.lastSent = at
      }
    }).pipe(Effect.forkChild({ startImmediately: true }))
    yield* Effect.yieldNow
    const now = Effect.map(Clock.currentTimeMillis, (t) => t - t0)
    /** Moves the clock to `t` ms after the start. */
    const at = (t: number) =>
      Effect.gen(function*() {
        const current = yield* now
        assert.isTrue(t >= current, `cannot go back from ${current} to ${t}`)
        if (t > current) yield* TestClock.adjust(t - current)
        yield* Effect.yieldNow
      })
    const receive = Effect.gen(function*() {
      liveness.lastReceived = yield* Clock.currentTimeMillis
      liveness.pingSentAt = undefined
    })
    const send = Effect.gen(function*() {
      liveness.lastSent = yield* Clock.currentTimeMillis
    })
    const alive = () => fiber.pollUnsafe() === undefined
    const assertLost = () => {
      const exit = fiber.pollUnsafe()
      assert.isDefined(exit, "the loop is still running")
      if (exit === undefined) return
      assert.isTrue(Exit.isFailure(exit))
      assert.isTrue(Exit.isFailure(exit) && Cause.squash(exit.cause) instanceof ConnectionLost, "fails with ConnectionLost")
    }
    return { t0, liveness, pings, fiber, now, at, receive, send, alive, assertLost }
  })

describe("run", () => {
  it.effect("no traffic: PINGREQ exactly at the keep-alive, not before", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(9_999)
      assert.deepStrictEqual(k.pings, [])
      yield* k.at(10_000)
      assert.deepStrictEqual(k.pings, [10_000])
      assert.strictEqual(k.liveness.pingSentAt, k.t0 + 10_000)
      assert.isTrue(k.alive())
    }))

  it.effect("a reply re-arms the loop: the next ping comes a keep-alive after the older of lastSent/lastReceived", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(10_000)
      assert.deepStrictEqual(k.pings, [10_000])
      yield* k.at(10_500)
      yield* k.receive // PINGRESP
      // lastSent = 10 000 (the ping), lastReceived = 10 500: next ping at 20 000
      yield* k.at(19_999)
      assert.deepStrictEqual(k.pings, [10_000])
      assert.isTrue(k.alive())
      yield* k.at(20_000)
      assert.deepStrictEqual(k.pings, [10_000, 20_000])
      // and again
      yield* k.at(20_001)
      yield* k.receive
      yield* k.at(29_999)
      assert.deepStrictEqual(k.pings, [10_000, 20_000])
      yield* k.at(30_000)
      assert.deepStrictEqual(k.pings, [10_000, 20_000, 30_000])
    }))

  it.effect("traffic in both directions postpones the ping", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(4_000)
      yield* k.send
      yield* k.at(6_000)
      yield* k.receive
      // min(4 000, 6 000) + 10 000
      yield* k.at(13_999)
      assert.deepStrictEqual(k.pings, [])
      yield* k.at(14_000)
      assert.deepStrictEqual(k.pings, [14_000])
    }))

  it.effect("sending alone does not postpone the ping (receive silence is detected)", () =>
    Effect.gen(function*() {
      const k = yield* start()
      for (let t = 1_000; t < 10_000; t += 1_000) {
        yield* k.at(t)
        yield* k.send
      }
      yield* k.at(9_999)
      assert.deepStrictEqual(k.pings, [])
      yield* k.at(10_000)
      assert.deepStrictEqual(k.pings, [10_000])
    }))

  it.effect("receiving alone does not postpone the ping (send silence)", () =>
    Effect.gen(function*() {
      const k = yield* start()
      for (let t = 1_000; t < 10_000; t += 1_000) {
        yield* k.at(t)
        yield* k.receive
      }
      yield* k.at(10_000)
      assert.deepStrictEqual(k.pings, [10_000])
    }))

  it.effect("no reply: fails with ConnectionLost exactly at ping + pingTimeout", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(10_000)
      assert.deepStrictEqual(k.pings, [10_000])
      yield* k.at(14_999)
      assert.isTrue(k.alive(), "failed 1 ms early")
      yield* k.at(15_000)
      k.assertLost()
      assert.deepStrictEqual(k.pings, [10_000]) // a single ping, no retry
    }))

  it.effect("the error is a ConnectionLost that can be caught by tag", () =>
    Effect.gen(function*() {
      const k = yield* start(1_000, 500)
      yield* k.at(1_500)
      const tag = yield* Fiber.join(k.fiber).pipe(Effect.catchTag("ConnectionLost", (e) => Effect.succeed(e._tag)))
      assert.strictEqual(tag, "ConnectionLost")
    }))

  it.effect("a reply 1 ms before the deadline saves the connection", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(14_999)
      yield* k.receive
      yield* k.at(15_000)
      assert.isTrue(k.alive())
      yield* k.at(20_000) // next ping: min(10 000, 14 999) + 10 000
      assert.deepStrictEqual(k.pings, [10_000, 20_000])
      yield* k.at(24_999)
      assert.isTrue(k.alive())
      yield* k.at(25_000)
      k.assertLost()
    }))

  it.effect("keepAlive 0 never pings and never fails", () =>
    Effect.gen(function*() {
      const k = yield* start(0)
      yield* k.at(24 * 3_600_000)
      assert.deepStrictEqual(k.pings, [])
      assert.isTrue(k.alive())
      yield* Fiber.interrupt(k.fiber)
    }))

  it.effect("worst-case detection: at most keepAlive + pingTimeout after the last received byte", () =>
    Effect.gen(function*() {
      for (const last of [0, 1, 999, 4_321, 9_999, 10_000, 10_001, 14_999, 17_500, 23_456]) {
        const k = yield* start()
        // the client writes every 700 ms; the broker sends something every 100 ms and at `last`, then dies
        const times = new Set<number>([last])
        for (let t = 100; t <= last + KEEP_ALIVE + PING_TIMEOUT; t += 100) times.add(t)
        let detected: number | undefined
        for (const t of [...times].sort((a, b) => a - b)) {
          yield* k.at(t)
          if (!k.alive()) {
            detected = t
            break
          }
          if (t <= last) yield* k.receive
          if (t % 700 === 0) yield* k.send
        }
        yield* k.at(Math.max(yield* k.now, last + KEEP_ALIVE + PING_TIMEOUT))
        k.assertLost()
        detected ??= yield* k.now
        assert.isTrue(detected <= last + KEEP_ALIVE + PING_TIMEOUT, `last byte at ${last}, detected at ${detected}`)
        assert.isTrue(detected > last, `detected at ${detected}, before the last byte at ${last}`)
      }
    }))
})
