/**
 * The `websocket` option against mosquitto's WebSocket listener, behind a gate (WsGate) that records each
 * opening handshake and refuses expired tokens: static handshake headers (Redacted values), and the
 * `websocket.handshake` Effect run before every connection attempt (a fresh signed URL or token each time).
 */
import { ConnectError, MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Redacted, Ref, Schedule, Stream } from "effect"
import * as Browser from "../src/Transport.browser.ts"
import { describeMosquitto, freePort, Mosquitto, WsGate } from "./brokers/index.ts"

const client = (options: Parameters<typeof MqttClient.layer>[0]) =>
  Layer.build(MqttClient.layer({ connectTimeout: "5 seconds", reconnect: Schedule.spaced("100 millis"), ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

const roundTrip = (mqtt: MqttClient["Service"], topic: string, payload: string) =>
  Effect.gen(function*() {
    const sub = yield* mqtt.subscription(topic, { qos: 1 })
    const received = yield* sub.messages.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
    yield* mqtt.publish(topic, payload, { qos: 1 })
    return (yield* Fiber.join(received).pipe(Effect.timeout("10 seconds"))).map((m) => m.text)
  })

/** mosquitto with a WebSocket listener, and a gate in front of it. */
const gated = (accept?: Parameters<typeof WsGate.start>[0]["accept"], refuseWith?: 401 | 403 | 503) =>
  Effect.gen(function*() {
    const wsPort = yield* freePort
    yield* Mosquitto.start({ extraConfig: `listener ${wsPort} lo\nprotocol websockets` })
    return yield* WsGate.start({ target: wsPort, ...(accept !== undefined ? { accept } : {}), ...(refuseWith !== undefined ? { refuseWith } : {}) })
  })

const tokenOf = (url: string): string | null => new URL(url, "ws://x").searchParams.get("token")

describeMosquitto("the websocket option", () => {
  it.live("headers reach the broker's side of the handshake on every connection; Redacted values are sent in clear", () =>
    Effect.gen(function*() {
      const gate = yield* gated()
      const mqtt = yield* client({
        url: `${gate.url}/mqtt`,
        websocket: { headers: { "x-device": "sensor-7", authorization: Redacted.make("Bearer static-token") } }
      })
      assert.deepStrictEqual(yield* roundTrip(mqtt, "ws/headers", "x"), ["x"])
      const first = yield* gate.handshakes.waitFor(() => true, 1000, "a handshake")
      assert.strictEqual(first.headers["x-device"], "sensor-7")
      assert.strictEqual(first.headers["authorization"], "Bearer static-token")
      assert.strictEqual(first.headers["sec-websocket-protocol"], "mqtt")
      // after a cut, the reconnect sends them again
      yield* gate.cutAll
      yield* gate.handshakes.waitFor(() => gate.handshakes.items.length >= 2, 5000, "the reconnect's handshake")
      assert.strictEqual(gate.handshakes.items[1]?.headers["x-device"], "sensor-7")
    }))

  it.live("the handshake Effect runs before every attempt: a fresh token in the query and a header each time, an expired one refused", () =>
    Effect.gen(function*() {
      // tokens below `valid` have expired: the gate refuses them (401)
      let valid = 1
      const gate = yield* gated((h) => Number(tokenOf(h.url)?.slice(1)) >= valid && h.headers["x-token"] === tokenOf(h.url))
      const issued = yield* Ref.make(0)
      const seen: Array<string> = []
      const mqtt = yield* client({
        url: `${gate.url}/mqtt`,
        websocket: {
          handshake: ({ url }) =>
            Effect.gen(function*() {
              seen.push(url)
              const n = yield* Ref.updateAndGet(issued, (k) => k + 1)
              return { url: `${url}?token=t${n}`, headers: { "x-token": Redacted.make(`t${n}`) } }
            })
        }
      })
      assert.deepStrictEqual(yield* roundTrip(mqtt, "ws/token", "one"), ["one"])
      assert.strictEqual(yield* Ref.get(issued), 1)
      // t1 expires and the connection drops: the reconnect must bring a fresh token
      valid = 2
      yield* gate.cutAll
      yield* gate.handshakes.waitFor((h) => h.accepted && tokenOf(h.url) === "t2", 5000, "the reconnect with t2")
      assert.deepStrictEqual(yield* roundTrip(mqtt, "ws/token2", "two"), ["two"])
      assert.deepStrictEqual(gate.handshakes.items.map((h) => [tokenOf(h.url), h.accepted]), [["t1", true], ["t2", true]])
      assert.strictEqual(yield* Ref.get(issued), 2)
      // the Effect got the URL as configured, without the previous token
      assert.deepStrictEqual(seen, [`${gate.url}/mqtt`, `${gate.url}/mqtt`])
    }))

  it.live("a refused handshake is retried with a new token from the Effect", () =>
    Effect.gen(function*() {
      const gate = yield* gated((h) => tokenOf(h.url) !== "t1")
      const issued = yield* Ref.make(0)
      const mqtt = yield* client({
        url: `${gate.url}/mqtt`,
        websocket: { handshake: ({ url }) => Effect.map(Ref.updateAndGet(issued, (k) => k + 1), (n) => ({ url: `${url}?token=t${n}` })) }
      })
      assert.deepStrictEqual(yield* roundTrip(mqtt, "ws/retry", "ok"), ["ok"])
      assert.deepStrictEqual(gate.handshakes.items.map((h) => [tokenOf(h.url), h.accepted]), [["t1", false], ["t2", true]])
    }))

  it.live("a failing handshake Effect fails the attempt with a ConnectError naming websocket.handshake", () =>
    Effect.gen(function*() {
      const gate = yield* gated()
      const error = yield* Effect.flip(client({
        url: `${gate.url}/mqtt`,
        connectTimeout: "1 second",
        websocket: { handshake: () => Effect.fail(new Error("token service down")) }
      }))
      assert.instanceOf(error, ConnectError)
      assert.include(error.message, "websocket.handshake")
      assert.include(error.message, "token service down")
      assert.strictEqual(gate.handshakes.items.length, 0)
    }))

  for (const status of [401, 403, 503] as const) {
    const final = status !== 503
    it.live(`an upgrade answered ${status} is ${final ? "final (as a proxy's 407)" : "retried"}, named without the URL's query`, () =>
      Effect.gen(function*() {
        const gate = yield* gated(() => false, status)
        const error = yield* Effect.flip(client({ url: `${gate.url}/mqtt?token=hidden-Zq9`, connectTimeout: "20 seconds", connectRetry: final }))
        assert.instanceOf(error, ConnectError)
        assert.include(error.message, `could not connect to ${gate.url.replace("localhost", "127.0.0.1")}/mqtt: the WebSocket server refused the upgrade`)
        assert.include(error.message, String(status))
        assert.notInclude(error.message, "hidden-Zq9")
        assert.strictEqual(error.isRetryable, !final, error.message)
        if (final) assert.strictEqual(gate.handshakes.items.length, 1, "not retried")
      }))
  }

  it.live("with websocket.handshake, a 401 stays retryable: the next attempt brings new credentials", () =>
    Effect.gen(function*() {
      const gate = yield* gated(() => false)
      const error = yield* Effect.flip(client({
        url: `${gate.url}/mqtt`,
        connectTimeout: "1 second",
        connectRetry: false,
        websocket: { handshake: () => Effect.succeed({}) }
      }))
      assert.include(error.message, "401 Unauthorized")
      assert.isTrue(error.isRetryable)
    }))

  it.effect("a handshake URL of another scheme fails the attempt for good", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(client({
        url: "ws://127.0.0.1:1/mqtt",
        connectTimeout: "10 seconds",
        websocket: { handshake: () => Effect.succeed({ url: "mqtt://127.0.0.1:1" }) }
      }))
      assert.instanceOf(error, ConnectError)
      assert.include(error.message, "websocket.handshake")
      assert.isFalse(error.isRetryable)
    }))
})

describe("a websocket.handshake that misbehaves", () => {
  // Nothing listens on port 1: none of these gets as far as dialling.
  const cases: ReadonlyArray<readonly [string, (request: { readonly url: string }) => Effect.Effect<{ readonly url?: string }, unknown>, string, boolean]> = [
    ["dies", () => Effect.die(new Error("bug in the signer")), "websocket.handshake failed: bug in the signer", true],
    ["throws", () => {
      throw new Error("thrown by the signer")
    }, "websocket.handshake failed: thrown by the signer", true],
    ["returns undefined", () => undefined as never, "websocket.handshake must return an Effect, got undefined", false],
    ["succeeds with undefined", () => Effect.succeed(undefined as never), "websocket.handshake must succeed with an object", false]
  ]
  for (const [name, handshake, expected, retryable] of cases) {
    it.live(`one that ${name} fails the attempt with a ConnectError naming it${retryable ? "" : ", not retried"}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(client({ url: "ws://127.0.0.1:1/mqtt", connectTimeout: "1 second", websocket: { handshake } }))
        assert.instanceOf(error, ConnectError)
        assert.include(error.message, expected)
        assert.strictEqual(error.isRetryable, retryable, error.message)
      }).pipe(Effect.scoped))
  }

  it.live("one that never completes: the timeout says the handshake did not complete, not that the broker sent no CONNACK", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(client({
        url: "ws://127.0.0.1:1/mqtt?token=hidden",
        connectTimeout: "300 millis",
        connectRetry: false,
        websocket: { handshake: () => Effect.never }
      }))
      assert.instanceOf(error, ConnectError)
      assert.include(error.message, "could not connect to ws://127.0.0.1:1/mqtt: websocket.handshake did not complete within 300")
      assert.notInclude(error.message, "CONNACK")
      assert.notInclude(error.message, "hidden")
    }).pipe(Effect.scoped))
})

describe("websocket option checks", () => {
  it.effect("bad headers, a handshake that is not a function, or no ws:// URL fail the layer with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Parameters<typeof MqttClient.layer>[0], string]> = [
        [{ url: "ws://h/mqtt", websocket: { headers: { "bad name": "x" } } }, "is not a header name"],
        [{ url: "ws://h/mqtt", websocket: { headers: { "Sec-WebSocket-Protocol": "x" } } }, "set by the WebSocket handshake itself"],
        [{ url: "ws://h/mqtt", websocket: { headers: { "x-token": Redacted.make("a\r\nx-evil: 1") } } }, "the value of x-token holds CR, LF or NUL"],
        [{ url: "mqtt://h", websocket: { headers: { "x-a": "b" } } }, "ws:// and wss:// URLs only"],
        [{ url: "mqtt+unix:///tmp/s.sock", proxy: "http://p:3128" }, "not to a socket file"]
      ]
      for (const [options, expected] of cases) {
        const error = yield* Effect.flip(client(options))
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.include(error.message, expected)
        assert.notInclude(error.message, "x-evil")
      }
    }))
})

describe("the browser transport", () => {
  it.effect("headers and a proxy fail with a ConnectError that says browsers cannot do it, and are not retried", () =>
    Effect.gen(function*() {
      const endpoint = { protocol: "ws", host: "127.0.0.1", port: 1, path: "/mqtt" }
      const headers = yield* Effect.flip(Effect.scoped(Browser.webSocket(endpoint, false, Duration.seconds(1), { "x-a": "b" })))
      assert.instanceOf(headers, ConnectError)
      assert.include(headers.message, "browser")
      assert.isFalse(headers.isRetryable)
      const proxy = { protocol: "http" as const, host: "127.0.0.1", port: 3128 }
      const proxied = yield* Effect.flip(Effect.scoped(Browser.webSocket({ ...endpoint, proxy }, false, Duration.seconds(1))))
      assert.instanceOf(proxied, ConnectError)
      assert.include(proxied.message, "browser")
      assert.isFalse(proxied.isRetryable)
    }))
})
