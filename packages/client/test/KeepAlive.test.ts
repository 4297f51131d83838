/**
 * Keep-alive: the pure `nextAction` decision table and the `run` loop driven by TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { ConnectionLost } from "../src/errors.ts"
import * as KeepAlive from "../src/KeepAlive.ts"
import { type Liveness, nextAction, run } from "../src/KeepAlive.ts"

const KEEP_ALIVE = 10_000
const PING_TIMEOUT = 5_000

/** A liveness record at `t = 0`, with some fields set. */
const liveness = (fields: Partial<Liveness> = {}): Liveness => ({ ...KeepAlive.make(0), ...fields })
/** A PINGREQ queued at `queuedAt`, written at `writtenAt` (`undefined`: still queued). */
const ping = (queuedAt: number, writtenAt?: number): KeepAlive.Ping => ({ queuedAt, writtenAt })
const decide = (l: Liveness, now: number) => nextAction({ keepAliveMillis: KEEP_ALIVE, pingTimeoutMillis: PING_TIMEOUT, liveness: l }, now)
const dead = (action: KeepAlive.Action): string => {
  assert.strictEqual(action._tag, "Dead", `expected Dead, got ${JSON.stringify(action)}`)
  return action._tag === "Dead" ? action.message : ""
}

// ---------------------------------------------------------------------------------------------------------------
// nextAction

describe("nextAction", () => {
  /** The action, without the message of `Dead` (checked below). */
  type Expected = { readonly _tag: "Ping" } | { readonly _tag: "Dead" } | { readonly _tag: "Wait"; readonly millis: number }
  const cases: Array<[string, Liveness, number, Expected]> = [
    ["fresh connection: wait a full keep-alive", liveness(), 0, { _tag: "Wait", millis: 10_000 }],
    ["1 ms before the keep-alive", liveness(), 9_999, { _tag: "Wait", millis: 1 }],
    ["exactly at the keep-alive: ping", liveness(), 10_000, { _tag: "Ping" }],
    ["late (the loop overslept): ping", liveness(), 12_345, { _tag: "Ping" }],
    ["sending only: receive silence still pings", liveness({ lastSent: 9_000, lastReceived: 2_000 }), 10_000, { _tag: "Wait", millis: 2_000 }],
    ["sending only, receive silence reached", liveness({ lastSent: 11_900, lastReceived: 2_000 }), 12_000, { _tag: "Ping" }],
    ["receiving only: send silence pings", liveness({ lastSent: 2_000, lastReceived: 9_000 }), 11_000, { _tag: "Wait", millis: 1_000 }],
    ["receiving only, send silence reached", liveness({ lastSent: 2_000, lastReceived: 11_999 }), 12_000, { _tag: "Ping" }],
    ["traffic both ways: due keep-alive after the older one", liveness({ lastSent: 8_000, lastReceived: 7_000 }), 10_000, { _tag: "Wait", millis: 7_000 }],
    // written PINGREQ: the timeout counts from the write
    ["ping just written: wait the ping timeout", liveness({ lastSent: 10_000, ping: ping(10_000, 10_000) }), 10_000, { _tag: "Wait", millis: 5_000 }],
    ["1 ms before the ping timeout", liveness({ lastSent: 10_000, ping: ping(10_000, 10_000) }), 14_999, { _tag: "Wait", millis: 1 }],
    ["exactly at the ping timeout: dead", liveness({ lastSent: 10_000, ping: ping(10_000, 10_000) }), 15_000, { _tag: "Dead" }],
    ["long after the ping timeout: dead", liveness({ lastSent: 10_000, ping: ping(10_000, 10_000) }), 60_000, { _tag: "Dead" }],
    ["queued at 10 s, written at 30 s: alive at 34.999 s", liveness({ lastSent: 30_000, ping: ping(10_000, 30_000) }), 34_999, { _tag: "Wait", millis: 1 }],
    ["queued at 10 s, written at 30 s: dead at 35 s", liveness({ lastSent: 30_000, ping: ping(10_000, 30_000) }), 35_000, { _tag: "Dead" }],
    ["bytes sent after the PINGREQ do not answer it", liveness({ lastSent: 14_000, ping: ping(10_000, 10_000) }), 15_000, { _tag: "Dead" }],
    ["the reader read again after the write (it had handed packets on): timeout from then", liveness({ lastSent: 10_000, lastReceived: 12_000, ping: ping(10_000, 10_000) }), 16_000, { _tag: "Wait", millis: 1_000 }],
    // written after the socket's buffers were full: one keep-alive more for the bytes ahead of it
    ["written behind full buffers: alive past the ping timeout", liveness({ lastSent: 10_000, lastFull: 10_000, ping: ping(8_000, 10_000) }), 15_000, { _tag: "Wait", millis: 5_000 }],
    ["written behind full buffers: dead a keep-alive + ping timeout after they last took bytes", liveness({ lastSent: 10_000, lastFull: 10_000, ping: ping(8_000, 10_000) }), 25_000, { _tag: "Dead" }],
    ["buffers full long before the write: no extra time", liveness({ lastSent: 30_000, lastFull: 1_000, ping: ping(30_000, 30_000) }), 35_000, { _tag: "Dead" }],
    // queued PINGREQ: alive while bytes leave the socket or arrive
    ["queued behind a write that progresses: alive", liveness({ lastSent: 24_000, lastFull: 24_000, ping: ping(10_000), unsent: 1_000_000 }), 25_000, { _tag: "Wait", millis: 4_000 }],
    ["queued, nothing left nor arrived for the ping timeout: dead", liveness({ lastSent: 12_000, ping: ping(10_000), unsent: 1_000_000 }), 17_000, { _tag: "Dead" }],
    ["queued, 1 ms before that: alive", liveness({ lastSent: 12_000, ping: ping(10_000), unsent: 1_000_000 }), 16_999, { _tag: "Wait", millis: 1 }],
    ["queued, the timeout counts from the queueing at the earliest", liveness({ lastSent: 0, ping: ping(10_000) }), 14_999, { _tag: "Wait", millis: 1 }],
    ["queued, bytes arriving keep it alive", liveness({ lastSent: 0, lastReceived: 20_000, ping: ping(10_000) }), 24_000, { _tag: "Wait", millis: 1_000 }],
    ["queued, no second PINGREQ however long the write takes", liveness({ lastSent: 50_000, lastReceived: 0, ping: ping(10_000) }), 54_000, { _tag: "Wait", millis: 1_000 }],
    // an unanswered PINGREQ and send silence [MQTT-3.1.2-23]
    ["written, unanswered, send silence for a keep-alive: another PINGREQ", liveness({ lastSent: 10_000, lastFull: 10_000, ping: ping(10_000, 10_000) }), 20_000, { _tag: "Ping" }],
    ["written, unanswered, wake up for send silence before the deadline", liveness({ lastSent: 10_000, lastFull: 10_000, ping: ping(10_000, 10_000) }), 15_000, { _tag: "Wait", millis: 5_000 }],
    ["written, unanswered, a later PINGREQ still queued: none more", liveness({ lastSent: 10_000, lastFull: 10_000, ping: ping(10_000, 10_000), nextPing: ping(20_000) }), 21_000, { _tag: "Wait", millis: 4_000 }],
    // the reader hands packets to a slow subscriber: the broker's silence is not counted
    ["not reading: no receive-silence ping", liveness({ lastSent: 9_000, reading: false }), 12_000, { _tag: "Wait", millis: 5_000 }],
    ["not reading: send silence still pings", liveness({ lastSent: 2_000, reading: false }), 12_000, { _tag: "Ping" }],
    ["not reading: a written PINGREQ is never declared unanswered", liveness({ lastSent: 50_000, ping: ping(10_000, 10_000), reading: false }), 55_000, { _tag: "Wait", millis: 5_000 }],
    ["not reading: nor a queued one", liveness({ lastSent: 0, ping: ping(10_000), reading: false }), 55_000, { _tag: "Wait", millis: 5_000 }]
  ]

  it.each(cases)("%s", (_name, l, now, expected) => {
    const action = decide(l, now)
    assert.deepStrictEqual(action._tag === "Dead" ? { _tag: "Dead" } : action, expected)
  })

  it("pingTimeout longer than the keep-alive: a queued PINGREQ is looked at again within half a keep-alive, so the next one goes out a keep-alive after it was written [MQTT-3.1.2-23]", () => {
    const options = { keepAliveMillis: 2_000, pingTimeoutMillis: 5_000 }
    const queued = liveness({ ping: ping(2_000) })
    assert.deepStrictEqual(nextAction({ ...options, liveness: queued }, 2_000), { _tag: "Wait", millis: 1_000 })
    // written at 2.006 s and answered: the next PINGREQ is due at 4.006 s, before the broker's 1.5 keep-alives
    const answered = liveness({ lastSent: 2_006, lastReceived: 2_007 })
    assert.deepStrictEqual(nextAction({ ...options, liveness: answered }, 3_000), { _tag: "Wait", millis: 1_006 })
    assert.deepStrictEqual(nextAction({ ...options, liveness: answered }, 4_006), { _tag: "Ping" })
  })

  it("does not modify the liveness record", () => {
    for (const l of [liveness(), liveness({ ping: ping(10_000) }), liveness({ ping: ping(10_000, 11_000), lastFull: 11_000 })]) {
      const before = structuredClone(l)
      for (const now of [0, 12_000, 20_000, 60_000]) decide(l, now)
      assert.deepStrictEqual(l, before)
    }
  })

  it("a queued PINGREQ that starved says what was measured", () => {
    const message = dead(decide(liveness({ lastSent: 12_000, ping: ping(10_000), unsent: 123_456 }), 17_000))
    assert.strictEqual(
      message,
      "no byte left the socket or arrived within 5000 ms while the PINGREQ waited behind 123456 unsent bytes (queued 7000 ms ago): the broker stopped reading"
    )
  })

  it("an unanswered PINGREQ says how long since it was written", () => {
    assert.strictEqual(
      dead(decide(liveness({ lastSent: 30_000, ping: ping(10_000, 30_000) }), 35_000)),
      "no answer to PINGREQ within 5000 ms of writing it to the socket (pingTimeout 5000 ms): the broker is unreachable"
    )
    assert.strictEqual(
      dead(decide(liveness({ lastSent: 10_000, lastFull: 9_000, ping: ping(8_000, 10_000) }), 24_000)),
      "no answer to PINGREQ within 14000 ms of writing it to the socket and 15000 ms after the socket, its buffers full until then, " +
        "last took bytes (pingTimeout 5000 ms): the broker is unreachable"
    )
  })
})

describe("the writer's and the reader's records", () => {
  it("sent: a write that had to wait for room marks the socket full", () => {
    const l = liveness()
    KeepAlive.sent(l, 1_000, 1_000)
    assert.deepStrictEqual([l.lastSent, l.lastFull], [1_000, undefined])
    KeepAlive.sent(l, 2_000, 2_000 + KeepAlive.FULL_WAIT_MILLIS - 1)
    assert.deepStrictEqual([l.lastSent, l.lastFull], [2_000 + KeepAlive.FULL_WAIT_MILLIS - 1, undefined])
    KeepAlive.sent(l, 3_000, 3_500)
    assert.deepStrictEqual([l.lastSent, l.lastFull], [3_500, 3_500])
    KeepAlive.sent(l, 4_000, 4_000)
    assert.deepStrictEqual([l.lastSent, l.lastFull], [4_000, 3_500])
  })

  it("received: answers the written PINGREQs, not a queued one", () => {
    const queued = liveness({ ping: ping(10_000) })
    KeepAlive.received(queued, 11_000)
    assert.deepStrictEqual([queued.lastReceived, queued.ping], [11_000, ping(10_000)])

    const written = liveness({ ping: ping(10_000, 10_500) })
    KeepAlive.received(written, 11_000)
    assert.strictEqual(written.ping, undefined)

    // the PINGREQ queued behind an unanswered one becomes the one waited for
    const both = liveness({ ping: ping(10_000, 10_500), nextPing: ping(20_000) })
    KeepAlive.received(both, 21_000)
    assert.deepStrictEqual([both.ping, both.nextPing], [ping(20_000), undefined])
  })

  it("handingOn / reading: the broker's silence restarts when the reader reads again", () => {
    const l = liveness({ lastSent: 10_000, ping: ping(10_000, 10_000) })
    KeepAlive.handingOn(l)
    assert.deepStrictEqual(decide(l, 19_999), { _tag: "Wait", millis: 1 })
    assert.strictEqual(decide(l, 20_000)._tag, "Ping") // send silence only
    KeepAlive.sent(l, 40_000, 40_000)
    KeepAlive.reading(l, 40_000)
    assert.deepStrictEqual([l.reading, l.lastReceived], [true, 40_000])
    assert.isDefined(l.ping, "reading again answers nothing")
    assert.deepStrictEqual(decide(l, 44_999), { _tag: "Wait", millis: 1 })
    assert.strictEqual(decide(l, 45_000)._tag, "Dead")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// run, on TestClock

/**
 * Starts the loop the way a connection does: the liveness record starts at "now". The PINGREQ goes to
 * a simulated writer: written at once (`writes: "immediate"`, as an idle writer does) or queued until
 * `writePings` (a writer busy with a long write). `send`/`receive` are the writer and the reader.
 */
const start = (options: { keepAliveMillis?: number; pingTimeoutMillis?: number; writes?: "immediate" | "queued" } = {}) =>
  Effect.gen(function*() {
    const keepAliveMillis = options.keepAliveMillis ?? KEEP_ALIVE
    const pingTimeoutMillis = options.pingTimeoutMillis ?? PING_TIMEOUT
    const t0 = yield* Clock.currentTimeMillis
    const liveness = KeepAlive.make(t0)
    const pings: Array<number> = [] // queued, relative to t0
    const written: Array<number> = [] // written, relative to t0
    let waiting: Array<() => void> = []
    /** The socket takes the queued PINGREQs at `now`. */
    const writeAt = (now: number) => {
      const callbacks = waiting
      waiting = []
      for (const callback of callbacks) {
        KeepAlive.sent(liveness, now, now)
        written.push(now - t0)
        callback()
      }
    }
    const writePings = Effect.map(Clock.currentTimeMillis, writeAt)
    const fiber = yield* run({
      keepAliveMillis,
      pingTimeoutMillis,
      liveness,
      sendPing: (callback) => {
        const queuedAt = (liveness.nextPing ?? liveness.ping)?.queuedAt ?? Number.NaN
        pings.push(queuedAt - t0)
        waiting.push(callback)
        if (options.writes !== "queued") writeAt(queuedAt)
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
      KeepAlive.received(liveness, yield* Clock.currentTimeMillis)
    })
    /** The socket took a slice; `waited`: after making the writer wait (its buffers were full). */
    const send = (waited = false) =>
      Effect.gen(function*() {
        const t = yield* Clock.currentTimeMillis
        KeepAlive.sent(liveness, waited ? t - 1_000 : t, t)
      })
    const alive = () => fiber.pollUnsafe() === undefined
    const lostWith = (): string => {
      const exit = fiber.pollUnsafe()
      assert.isDefined(exit, "the loop is still running")
      if (exit === undefined || Exit.isSuccess(exit)) return ""
      const error = Cause.squash(exit.cause)
      assert.instanceOf(error, ConnectionLost)
      return error instanceof ConnectionLost ? error.message : ""
    }
    return { t0, liveness, pings, written, fiber, now, at, receive, send, writePings, alive, lostWith }
  })

describe("run", () => {
  it.effect("no traffic: PINGREQ exactly at the keep-alive, not before", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(9_999)
      assert.deepStrictEqual(k.pings, [])
      yield* k.at(10_000)
      assert.deepStrictEqual(k.pings, [10_000])
      assert.strictEqual(k.liveness.ping?.writtenAt, k.t0 + 10_000)
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
      yield* k.send()
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
        yield* k.send()
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
      assert.match(k.lostWith(), /^no answer to PINGREQ within 5000 ms of writing it to the socket/)
      assert.deepStrictEqual(k.pings, [10_000]) // a single ping, no retry
    }))

  it.effect("the error is a ConnectionLost that can be caught by tag", () =>
    Effect.gen(function*() {
      const k = yield* start({ keepAliveMillis: 1_000, pingTimeoutMillis: 500 })
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
      assert.isFalse(k.alive())
    }))

  it.effect("keepAlive 0 never pings and never fails", () =>
    Effect.gen(function*() {
      const k = yield* start({ keepAliveMillis: 0 })
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
          if (t % 700 === 0) yield* k.send()
        }
        yield* k.at(Math.max(yield* k.now, last + KEEP_ALIVE + PING_TIMEOUT))
        assert.isFalse(k.alive())
        detected ??= yield* k.now
        assert.isTrue(detected <= last + KEEP_ALIVE + PING_TIMEOUT, `last byte at ${last}, detected at ${detected}`)
        assert.isTrue(detected > last, `detected at ${detected}, before the last byte at ${last}`)
      }
    }))

  // --- a PINGREQ queued behind a long write (issue 11, item 5) ------------------------------------------------

  it.effect("queued behind a slow write that keeps progressing: alive, one PINGREQ, the timeout counts from its write", () =>
    Effect.gen(function*() {
      const k = yield* start({ writes: "queued" })
      yield* k.at(10_000) // receive silence: the PINGREQ is queued behind the write
      assert.deepStrictEqual(k.pings, [10_000])
      // the socket takes a slice every 4 s (less than the ping timeout) for 30 s
      for (let t = 14_000; t <= 40_000; t += 4_000) {
        yield* k.at(t - 1)
        assert.isTrue(k.alive(), `declared dead at ${t - 1} while the write progresses`)
        yield* k.at(t)
        yield* k.send()
      }
      assert.deepStrictEqual(k.pings, [10_000], "a second PINGREQ was queued")
      yield* k.at(42_000)
      yield* k.writePings // the write is done: the PINGREQ goes out at 42 s
      assert.deepStrictEqual(k.written, [42_000])
      yield* k.at(46_999)
      assert.isTrue(k.alive())
      yield* k.receive // PINGRESP
      yield* k.at(51_999) // the next one is due a keep-alive after the PINGREQ was written
      assert.isTrue(k.alive())
      assert.deepStrictEqual(k.pings, [10_000])
    }))

  it.effect("queued, and no byte leaves the socket nor arrives for pingTimeout: dead, saying so", () =>
    Effect.gen(function*() {
      const k = yield* start({ writes: "queued" })
      yield* k.at(10_000)
      yield* k.at(12_000)
      yield* k.send() // the last slice the socket took: the broker stopped reading
      k.liveness.unsent = 5_000_000
      yield* k.at(16_999)
      assert.isTrue(k.alive(), "failed 1 ms early")
      yield* k.at(17_000)
      assert.match(
        k.lostWith(),
        /^no byte left the socket or arrived within 5000 ms while the PINGREQ waited behind 5000000 unsent bytes \(queued 7000 ms ago\)/
      )
      assert.deepStrictEqual(k.pings, [10_000])
    }))

  it.effect("queued and the socket is stuck, but bytes arrive: alive while they do", () =>
    Effect.gen(function*() {
      const k = yield* start({ writes: "queued" })
      yield* k.at(10_000)
      for (let t = 13_000; t <= 31_000; t += 3_000) {
        yield* k.at(t)
        yield* k.receive // a download: the broker is alive
      }
      assert.isTrue(k.alive())
      assert.isDefined(k.liveness.ping, "arriving bytes answer no queued PINGREQ")
      yield* k.at(35_999)
      assert.isTrue(k.alive())
      yield* k.at(36_000)
      assert.isFalse(k.alive())
    }))

  it.effect("written: the timeout counts from the write, and any byte received answers it", () =>
    Effect.gen(function*() {
      const k = yield* start({ writes: "queued" })
      yield* k.at(10_000)
      for (let t = 11_000; t <= 30_000; t += 1_000) {
        yield* k.at(t)
        yield* k.send() // immediate writes: the socket had room
      }
      yield* k.writePings // written at 30 s
      yield* k.at(34_999)
      assert.isTrue(k.alive(), "the timeout counted from the queueing")
      yield* k.receive // some byte: answers it
      yield* k.at(39_999)
      assert.isTrue(k.alive())
      // the next one: due a keep-alive after the write (send silence), and this time unanswered
      yield* k.at(40_000)
      assert.deepStrictEqual(k.pings, [10_000, 40_000])
      yield* k.writePings
      yield* k.at(44_999)
      assert.isTrue(k.alive())
      yield* k.at(45_000)
      assert.isFalse(k.alive())
    }))

  it.effect("written behind full buffers: a keep-alive more for the bytes ahead of it, then dead", () =>
    Effect.gen(function*() {
      const k = yield* start({ writes: "queued" })
      yield* k.at(10_000)
      for (let t = 11_000; t <= 20_000; t += 1_000) {
        yield* k.at(t)
        yield* k.send(true) // the socket was full: each slice waited for the broker to read
      }
      yield* k.at(21_000)
      yield* k.writePings // the last bytes of the write and the PINGREQ fit in the socket at once
      // the broker reads what the socket holds: PINGRESP not before 21 s + pingTimeout, but it is alive
      yield* k.at(30_000)
      assert.isTrue(k.alive())
      // the broker stopped at 20 s (the socket's last wait): detected by 20 s + keepAlive + pingTimeout
      yield* k.at(34_999)
      assert.isTrue(k.alive())
      yield* k.at(35_000)
      assert.match(k.lostWith(), /no answer to PINGREQ within 14000 ms of writing it to the socket and 15000 ms after the socket/)
    }))

  it.effect("an unanswered PINGREQ does not stop send-silence PINGREQs [MQTT-3.1.2-23], nor move its deadline", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(10_000)
      k.liveness.lastFull = k.t0 + 10_000 // as if it had followed a write that filled the socket
      yield* k.at(20_000)
      assert.deepStrictEqual(k.pings, [10_000, 20_000])
      yield* k.at(24_999)
      assert.isTrue(k.alive())
      yield* k.at(25_000) // the first one's deadline: 10 000 + 10 000 + 5 000
      assert.isFalse(k.alive())
    }))

  it.effect("the reader handing packets to a slow subscriber: never dead meanwhile, PINGREQs still go out", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(5_000)
      yield* k.receive
      KeepAlive.handingOn(k.liveness) // a subscriber's buffer is full: the reader stops reading
      yield* k.at(60_000)
      assert.isTrue(k.alive())
      // a keep-alive of send silence each time, although the first PINGREQ looks unanswered
      assert.deepStrictEqual(k.pings, [10_000, 20_000, 30_000, 40_000, 50_000, 60_000])
      KeepAlive.reading(k.liveness, k.t0 + 60_000)
      yield* k.at(60_001)
      yield* k.receive // the PINGRESPs waiting in the socket
      assert.isUndefined(k.liveness.ping)
      yield* k.at(69_999)
      assert.isTrue(k.alive())
    }))

  it.effect("the reader reads again: the broker has pingTimeout from then", () =>
    Effect.gen(function*() {
      const k = yield* start()
      yield* k.at(5_000)
      KeepAlive.handingOn(k.liveness)
      yield* k.at(30_000)
      KeepAlive.reading(k.liveness, k.t0 + 30_000)
      yield* k.at(34_999)
      assert.isTrue(k.alive())
      yield* k.at(35_000)
      assert.isFalse(k.alive())
    }))
})
