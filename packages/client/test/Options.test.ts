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
      assert.strictEqual(garbage._tag, "InvalidOptions")
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

  it.effect("maxInflight defaults to 20, mosquitto's default max_inflight_messages", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* resolveOptions({})).maxInflight, 20)
      assert.strictEqual((yield* resolveOptions({ maxInflight: 100 })).maxInflight, 100)
    }))

  it.effect("every string of CONNECT is a valid MQTT string [MQTT-1.5.3]: a typed failure naming the field", () =>
    Effect.gen(function*() {
      const fails = (options: Parameters<typeof resolveOptions>[0]) =>
        resolveOptions(options).pipe(Effect.flip, Effect.map((error) => [error._tag, error.message] as const))
      const unpaired = (field: string, unit: string, index: number) =>
        `${field} contains an unpaired surrogate (U+${unit} at index ${index}), which is not well-formed UTF-8 [MQTT-1.5.3-1]`
      const cut = "sensor/" + "🌡️".slice(0, 1) // "sensor/\uD83C": cut inside an emoji
      assert.deepStrictEqual(yield* fails({ clientId: cut }), ["InvalidOptions", `invalid option: ${unpaired("clientId", "D83C", 7)}`])
      assert.deepStrictEqual(yield* fails({ clientId: "\uDC00id" }), ["InvalidOptions", `invalid option: ${unpaired("clientId", "DC00", 0)}`])
      assert.deepStrictEqual(yield* fails({ clientId: "a\u0000b" }), [
        "InvalidOptions",
        "invalid option: clientId contains the null character U+0000 [MQTT-1.5.3-2]"
      ])
      assert.deepStrictEqual(yield* fails({ clientId: "c".repeat(65536) }), [
        "InvalidOptions",
        "invalid option: clientId is longer than 65535 bytes in UTF-8 [MQTT-1.5.3]"
      ])
      // The user name is named, never shown; the password never appears.
      const user = yield* fails({ username: "al\uD83Cice-Zq9", password: Redacted.make("pw-Zq9-secret") })
      assert.deepStrictEqual(user, ["InvalidOptions", `invalid option: ${unpaired("username", "D83C", 2)}`])
      assert.notInclude(user[1], "Zq9")
      const fromUrl = yield* fails({ url: "mqtt://a%00b:pw-Zq9-secret@127.0.0.1" })
      assert.deepStrictEqual(fromUrl, ["InvalidOptions", "invalid option: the URL's user name contains the null character U+0000 [MQTT-1.5.3-2]"])
      const willTopic = yield* fails({ will: { topic: cut, payload: "gone" } })
      assert.deepStrictEqual(willTopic, [
        "InvalidOptions",
        "invalid will topic (will.topic): topic name contains an unpaired surrogate (U+D83C at index 7), which is not well-formed UTF-8 [MQTT-1.5.3-1]"
      ])
      const willPayload = yield* fails({ will: { topic: "t", payload: new Uint8Array(65536) } })
      assert.match(willPayload[1], /will\.payload is 65536 bytes, at most 65535/)
      // Accepted: a paired emoji, U+FEFF (kept).
      for (const clientId of ["sensor/🌡️", "\uFEFFid"]) {
        assert.strictEqual((yield* resolveOptions({ clientId, username: clientId, will: { topic: clientId, payload: "" } })).connect.clientId, clientId)
      }
      // Refused, naming the field: control characters and noncharacters, which mosquitto closes the connection for.
      assert.match((yield* fails({ clientId: "a\u0001b" }))[1], /clientId contains the control character U\+0001/)
      assert.match((yield* fails({ clientId: "ok", username: "u\uFFFF" }))[1], /username contains the noncharacter U\+FFFF/)
      // A will topic is a topic: what mosquitto drops the connection for is refused.
      const control = yield* fails({ will: { topic: "a\u0001b", payload: "gone" } })
      assert.match(control[1], /will\.topic.*control character U\+0001/)
    }))

  it.effect("a URL without a scheme fails with a hint; a query on a TCP or TLS URL fails instead of being ignored", () =>
    Effect.gen(function*() {
      const bare = yield* Effect.flip(parseUrl("127.0.0.1:1883"))
      assert.strictEqual(bare.message, 'invalid broker URL "127.0.0.1:1883": it has no scheme; did you mean "mqtt://127.0.0.1:1883"?')
      const host = yield* Effect.flip(parseUrl("localhost:1883"))
      assert.include(host.message, 'did you mean "mqtt://localhost:1883"?')
      // User info without a scheme: neither the message nor the hint shows the password.
      const userinfo = yield* Effect.flip(parseUrl("alice:pw-Zq9-secret@broker.local"))
      assert.strictEqual(userinfo.message, 'invalid broker URL "***@broker.local": it has no scheme; did you mean "mqtt://***@broker.local"?')
      assert.include((yield* Effect.flip(parseUrl("//broker.local:1883"))).message, 'did you mean "mqtt://broker.local:1883"?')
      assert.strictEqual((yield* Effect.flip(parseUrl(""))).message, "the broker URL is empty (e.g. mqtt://localhost:1883)")
      const query = yield* Effect.flip(parseUrl("mqtt://broker:1883?clientId=foo"))
      assert.strictEqual(query.message, 'the broker URL\'s query "?clientId=foo" is not read for mqtt://; pass clientId, keepAlive and the other settings as options')
      // a WebSocket URL keeps its query (a signed URL, a token)
      assert.strictEqual((yield* parseUrl("wss://broker/mqtt?token=abc")).path, "/mqtt?token=abc")
    }))

  it.effect("a URL with malformed percent-encoding or no parse fails with InvalidOptions, credentials not shown", () =>
    Effect.gen(function*() {
      const user = yield* Effect.flip(parseUrl("mqtt://%E0%A4%A@127.0.0.1"))
      assert.strictEqual(user.message, "the broker URL's user name is not valid percent-encoded UTF-8")
      const password = yield* Effect.flip(parseUrl("mqtt://u:Zq9%ED%A0%80@127.0.0.1"))
      assert.strictEqual(password.message, "the broker URL's password is not valid percent-encoded UTF-8")
      const unparsable = yield* Effect.flip(parseUrl("mqtt://alice:pw-Zq9-secret@host:99999"))
      assert.strictEqual(unparsable.message, 'invalid broker URL "mqtt://***@host:99999": port 99999 is out of range (0..65535)')
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

describe("MQTT 5.0 options (protocolVersion: 5)", () => {
  it.effect("the CONNECT: protocol level 5, Clean Start from cleanSession, Session Expiry by default 0 or 'never', Receive Maximum from the stream buffer", () =>
    Effect.gen(function*() {
      const clean = yield* resolveOptions({ protocolVersion: 5, clientId: "c" })
      assert.strictEqual(clean.connect.protocolLevel, 5)
      assert.deepStrictEqual("properties" in clean.connect ? clean.connect.properties : undefined, {
        receiveMaximum: 1024,
        requestResponseInformation: true,
        maximumPacketSize: 64 * 1024 * 1024
      })
      const persistent = yield* resolveOptions({ protocolVersion: 5, clientId: "c", cleanSession: false, subscriberBufferSize: 100_000, topicAliasMaximum: 8 })
      const p = "properties" in persistent.connect ? persistent.connect.properties : undefined
      assert.strictEqual(p?.sessionExpiryInterval, 0xffffffff)
      assert.isUndefined(p?.receiveMaximum, "65535 is the default: not sent")
      assert.strictEqual(p?.topicAliasMaximum, 8)
      const expiring = yield* resolveOptions({ protocolVersion: 5, cleanSession: false, sessionExpiryInterval: 300 })
      assert.strictEqual("properties" in expiring.connect ? expiring.connect.properties?.sessionExpiryInterval : undefined, 300)
    }))

  it.effect("MQTT 5.0 options under 4, out-of-range values and bad will properties fail with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Parameters<typeof resolveOptions>[0], string]> = [
        [{ sessionExpiryInterval: 10 }, "sessionExpiryInterval"],
        [{ receiveMaximum: 10 }, "receiveMaximum"],
        [{ topicAliases: "auto" }, "topicAliases"],
        [{ followServerReference: true }, "followServerReference"],
        [{ will: { topic: "w", payload: "x", properties: { willDelayInterval: 5 } } }, "will.properties"],
        [{ protocolVersion: 5, receiveMaximum: 0 }, "receiveMaximum"],
        [{ protocolVersion: 5, sessionExpiryInterval: -1 }, "sessionExpiryInterval"],
        [{ protocolVersion: 5, topicAliasMaximum: 70_000 }, "topicAliasMaximum"],
        [{ protocolVersion: 5, will: { topic: "w", payload: "x", properties: { responseTopic: "a/#" } } }, "responseTopic"],
        [{ protocolVersion: 3 as never }, "protocolVersion"],
        // JavaScript or config values that used to mean "off" without a word
        [{ protocolVersion: 5, topicAliases: true as never }, "topicAliases"],
        [{ protocolVersion: 5, topicAliases: "on" as never }, "topicAliases"],
        [{ protocolVersion: Object.create(null) as never }, "protocolVersion"]
      ]
      for (const [options, field] of cases) {
        const exit = yield* Effect.exit(resolveOptions(options))
        assert.isTrue(Exit.isFailure(exit), field)
        if (Exit.isFailure(exit)) assert.include(String(exit.cause), field)
      }
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(resolveOptions({ topicAliases: "off" }))), "\"off\" is fine under 4")
    }))
})
