import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Redacted, Schedule } from "effect"
import { defaultReconnect, parseUrl, resolveOptions } from "../src/Options.ts"

/** The delays a schedule produces, read without sleeping (the timestamp is ours to give). */
const delays = (schedule: Schedule.Schedule<unknown, unknown>, n: number) =>
  Effect.gen(function*() {
    const step = yield* Schedule.toStep(schedule)
    const out: Array<number> = []
    let now = 0
    for (let i = 0; i < n; i++) {
      const [, delay] = yield* step(now, undefined)
      out.push(Duration.toMillis(delay))
      now += Duration.toMillis(delay)
    }
    return out
  })

describe("reconnect schedules", () => {
  it.effect("default: exponential from 1 s with jitter, capped at 30 s", () =>
    Effect.gen(function*() {
      const ms = yield* delays(defaultReconnect, 12)
      assert.isAtLeast(ms[0] as number, 800)
      assert.isAtMost(ms[0] as number, 1200)
      assert.isAtLeast(ms[3] as number, 8000 * 0.8) // 1 s * 2^3, jittered
      for (const d of ms) assert.isAtMost(d, 30_000)
      assert.strictEqual(ms[11], 30_000) // 2^11 s is far past the cap
    }))

  it.effect("the seed client's behaviour: Schedule.spaced(\"5 seconds\")", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* delays(Schedule.spaced("5 seconds"), 4), [5000, 5000, 5000, 5000])
    }))
})

describe("options", () => {
  it.effect("URLs: default ports, credentials in the URL, unsupported schemes", () =>
    Effect.gen(function*() {
      const plain = yield* parseUrl("mqtt://broker.local")
      assert.deepInclude(plain, { host: "broker.local", port: 1883 })
      const creds = yield* parseUrl("mqtt://al%40ice:s3cret@127.0.0.1:1884")
      assert.deepInclude(creds, { host: "127.0.0.1", port: 1884, username: "al@ice", password: "s3cret" })
      const bad = yield* Effect.exit(parseUrl("gopher://x"))
      assert.isTrue(Exit.isFailure(bad))
      const garbage = yield* Effect.flip(parseUrl("not a url"))
      assert.strictEqual(garbage._tag, "ConnectError")
    }))

  it.effect("defaults and validation", () =>
    Effect.gen(function*() {
      const resolved = yield* resolveOptions({})
      assert.strictEqual(resolved.connect.keepAlive, 60)
      assert.strictEqual(resolved.connect.cleanSession, true)
      assert.match(resolved.connect.clientId, /^aimeqtt_/)
      assert.strictEqual(resolved.pingTimeoutMillis, 30_000)
      assert.strictEqual(Duration.toMillis(resolved.connectTimeout), 30_000)
      assert.strictEqual((yield* resolveOptions({ clientId: "" })).connect.clientId, "") // [MQTT-3.1.3-6]
      const keepAlive = yield* Effect.flip(resolveOptions({ keepAlive: 70_000 }))
      assert.match(keepAlive.message, /keepAlive/)
      const noUser = yield* Effect.flip(resolveOptions({ password: Redacted.make("pw") }))
      assert.match(noUser.message, /MQTT-3.1.2-22/)
      assert.notInclude(noUser.message, "pw")
      const will = yield* Effect.flip(resolveOptions({ will: { topic: "a/+", payload: "x" } }))
      assert.match(will.message, /will topic/)
    }))

  it.effect("a password Effect is evaluated at every connect, its failure is a ConnectError", () =>
    Effect.gen(function*() {
      let calls = 0
      const resolved = yield* resolveOptions({ username: "u", password: Effect.sync(() => Redacted.make(`token-${++calls}`)) })
      const first = yield* resolved.password
      const second = yield* resolved.password
      assert.deepStrictEqual([first && Redacted.value(first), second && Redacted.value(second)], ["token-1", "token-2"])
      const failing = yield* resolveOptions({ username: "u", password: Effect.fail("no token") })
      const error = yield* Effect.flip(failing.password)
      assert.strictEqual(error._tag, "ConnectError")
    }))
})
