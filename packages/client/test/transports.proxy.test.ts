/**
 * The `proxy` option against mosquitto, through real proxies the tests start (tinyproxy for HTTP CONNECT,
 * microsocks for SOCKS5): mqtt://, mqtts:// (TLS end to end inside the tunnel), ws:// and wss://; a proxy that
 * refuses is a ConnectError with a ProxyError cause that never shows the password.
 */
import { ConnectError, MqttClient, ProxyError, TlsError } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Redacted, Schedule, Stream } from "effect"
import { serverReferenceEndpoint } from "../src/Dialer.ts"
import { builtins } from "../src/transports/Registry.ts"
import { wss } from "../src/transports/WebSocket.ts"
import {
  type CertificateSet,
  Certificates,
  describeMosquitto,
  describeProxies,
  freePort,
  HttpProxy,
  Mosquitto,
  SocksProxy
} from "./brokers/index.ts"

/** tinyproxy's config takes a plain word as the BasicAuth password. */
const SECRET = "pr0xyS3cret"

const client = (options: Parameters<typeof MqttClient.layer>[0]) =>
  Layer.build(MqttClient.layer({ connectTimeout: "5 seconds", reconnect: Schedule.spaced("100 millis"), ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

/** Subscribes on `subscriber`, publishes from `publisher`, returns the texts that arrived. */
const roundTrip = (subscriber: MqttClient["Service"], publisher: MqttClient["Service"], topic: string, payloads: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sub = yield* subscriber.subscription(topic, { qos: 1 })
    const received = yield* sub.messages.pipe(Stream.take(payloads.length), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
    for (const payload of payloads) yield* publisher.publish(topic, payload, { qos: 1 })
    return (yield* Fiber.join(received).pipe(Effect.timeout("10 seconds"))).map((m) => m.text)
  })

const tlsListener = (certs: CertificateSet) => `cafile ${certs.ca.certFile}\ncertfile ${certs.server.certFile}\nkeyfile ${certs.server.keyFile}`

/** A broker with a TCP, a TLS, a WebSocket and a WebSocket-over-TLS listener. */
const broker = Effect.gen(function*() {
  const certs = yield* Certificates.make()
  const [tls, ws, wss] = [yield* freePort, yield* freePort, yield* freePort]
  const mosquitto = yield* Mosquitto.start({
    extraConfig: [
      `listener ${tls} 127.0.0.1`,
      tlsListener(certs),
      `listener ${ws} lo`,
      "protocol websockets",
      `listener ${wss} lo`,
      "protocol websockets",
      tlsListener(certs)
    ].join("\n")
  })
  return { mosquitto, certs, ports: { tcp: mosquitto.port, tls, ws, wss } }
})

/** The ConnectError of a client that cannot connect; asserts the secret appears nowhere in it. */
const failure = (options: Parameters<typeof MqttClient.layer>[0]) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(client({ connectTimeout: "3 seconds", ...options }))
    assert.instanceOf(error, ConnectError)
    const all = `${error.message} ${JSON.stringify(error)} ${String(error)}`
    assert.notInclude(all, SECRET)
    return error
  })

describeMosquitto("the proxy option", () => {
  describeProxies("through tinyproxy and microsocks", () => {
    it.live("mqtt:// through an HTTP CONNECT proxy with Basic credentials, and through SOCKS5 with user name / password", () =>
      Effect.gen(function*() {
        const { ports } = yield* broker
        const http = yield* HttpProxy.start({ username: "alice", password: SECRET })
        const socks = yield* SocksProxy.start({ username: "bob", password: SECRET })
        const viaHttp = yield* client({ url: `mqtt://127.0.0.1:${ports.tcp}`, proxy: http.urlWith("alice", SECRET) })
        const viaSocks = yield* client({
          url: `mqtt://localhost:${ports.tcp}`,
          proxy: { url: socks.url.replace("socks5:", "socks5h:"), username: "bob", password: Redacted.make(SECRET) }
        })
        assert.deepStrictEqual(yield* roundTrip(viaHttp, viaSocks, "proxy/tcp", ["a", "b"]), ["a", "b"])
        yield* http.waitForLog(new RegExp(`CONNECT 127\\.0\\.0\\.1:${ports.tcp} `))
        // socks5h: the proxy resolved "localhost" itself
        yield* socks.waitForLog(new RegExp(`connected to localhost:${ports.tcp}`))
      }))

    it.live("mqtts:// through both proxies: TLS runs end to end inside the tunnel, the certificate checked against the broker's name", () =>
      Effect.gen(function*() {
        const { certs, ports } = yield* broker
        const http = yield* HttpProxy.start()
        const socks = yield* SocksProxy.start()
        const viaHttp = yield* client({ url: `mqtts://localhost:${ports.tls}`, tls: { ca: certs.ca.cert }, proxy: http.url })
        const viaSocks = yield* client({ url: `mqtts://localhost:${ports.tls}`, tls: { ca: certs.ca.cert }, proxy: socks.url })
        assert.deepStrictEqual(yield* roundTrip(viaHttp, viaSocks, "proxy/tls", ["secret"]), ["secret"])
        yield* http.waitForLog(new RegExp(`CONNECT localhost:${ports.tls} `))
        // the name is checked as without a proxy: a certificate for another name fails with TlsError
        const wrongName = yield* failure({
          url: `mqtts://127.0.0.1:${ports.tls}`,
          tls: { ca: certs.ca.cert, servername: "wrong.example" },
          proxy: http.url
        })
        assert.strictEqual(TlsError.find(wrongName)?.reason, "hostname-mismatch", wrongName.message)
        const unknownCa = yield* failure({ url: `mqtts://localhost:${ports.tls}`, tls: { ca: certs.otherCa.cert }, proxy: socks.url })
        assert.strictEqual(TlsError.find(unknownCa)?.reason, "unknown-ca", unknownCa.message)
      }))

    it.live("ws:// and wss:// through the proxies", () =>
      Effect.gen(function*() {
        const { certs, ports } = yield* broker
        const http = yield* HttpProxy.start({ username: "alice", password: SECRET })
        const socks = yield* SocksProxy.start()
        const ws = yield* client({ url: `ws://127.0.0.1:${ports.ws}/mqtt`, proxy: http.urlWith("alice", SECRET) })
        const wss = yield* client({ url: `wss://localhost:${ports.wss}/mqtt`, tls: { ca: certs.ca.cert }, proxy: `${socks.url.replace("socks5:", "socks5h:")}` })
        assert.deepStrictEqual(yield* roundTrip(ws, wss, "proxy/ws", ["1", "2"]), ["1", "2"])
        assert.deepStrictEqual(yield* roundTrip(wss, ws, "proxy/ws2", ["3"]), ["3"])
        yield* http.waitForLog(new RegExp(`CONNECT 127\\.0\\.0\\.1:${ports.ws} `))
        yield* socks.waitForLog(new RegExp(`connected to localhost:${ports.wss}`))
      }))

    it.live("a client reconnects through the proxy after the broker restarts", () =>
      Effect.gen(function*() {
        const { mosquitto, ports } = yield* broker
        const socks = yield* SocksProxy.start()
        const mqtt = yield* client({ url: `mqtt://127.0.0.1:${ports.tcp}`, proxy: socks.url })
        yield* mosquitto.restart
        assert.deepStrictEqual(yield* roundTrip(mqtt, mqtt, "proxy/again", ["back"]), ["back"])
        const tunnels = socks.logText().split("\n").filter((l) => l.includes(`connected to 127.0.0.1:${ports.tcp}`))
        assert.isAtLeast(tunnels.length, 2, socks.logText())
      }))

    it.live("proxy refusals are ConnectErrors with a ProxyError cause, without the password; bad credentials are not retried", () =>
      Effect.gen(function*() {
        const { ports } = yield* broker
        const http = yield* HttpProxy.start({ username: "alice", password: SECRET })
        const socks = yield* SocksProxy.start({ username: "bob", password: SECRET })
        const url = `mqtt://127.0.0.1:${ports.tcp}`
        // 407 (no credentials), within a long connectTimeout: fails at once, not after retrying
        const started = Date.now()
        const noCredentials = yield* failure({ url, proxy: http.url, connectTimeout: "20 seconds" })
        assert.isBelow(Date.now() - started, 10_000)
        assert.strictEqual(ProxyError.find(noCredentials)?.reason, "authentication")
        assert.strictEqual(ProxyError.find(noCredentials)?.status, 407)
        assert.isFalse(noCredentials.isRetryable)
        assert.include(noCredentials.message, `could not connect to mqtt://127.0.0.1:${ports.tcp}: proxy http://127.0.0.1:${http.port}: refused the tunnel`)
        const wrong = yield* failure({ url, proxy: socks.urlWith("bob", `${SECRET}x`) })
        assert.strictEqual(ProxyError.find(wrong)?.reason, "authentication")
        assert.include(wrong.message, `socks5://bob@127.0.0.1:${socks.port}`)
        assert.include(wrong.message, "rejected the user name or password")
        // no proxy on that port: retried like any unreachable network, until connectTimeout
        const closed = yield* freePort
        const unreachable = yield* failure({ url, proxy: `http://alice:${SECRET}@127.0.0.1:${closed}`, connectTimeout: "1 second" })
        assert.strictEqual(ProxyError.find(unreachable)?.reason, "unreachable")
        assert.isTrue(unreachable.isRetryable)
        assert.include(unreachable.message, `proxy http://alice@127.0.0.1:${closed}: cannot connect to the proxy`)
      }))

    it.live("a proxy of another protocol than its URL says is a ProxyError (protocol) naming the proxy, without the password", () =>
      Effect.gen(function*() {
        const { ports } = yield* broker
        const http = yield* HttpProxy.start()
        const socks = yield* SocksProxy.start()
        const url = `mqtt://127.0.0.1:${ports.tcp}`
        // socks5:// at an HTTP proxy: tinyproxy waits for a request line that never comes
        for (const scheme of ["socks5", "socks5h", "socks4"] as const) {
          const credentials = scheme === "socks4" ? "bob@" : `bob:${SECRET}@`
          // with connectRetry (the default) too: the layer's own timeout names the last attempt's failure
          const error = yield* failure({
            url,
            proxy: `${scheme}://${credentials}127.0.0.1:${http.port}`,
            connectTimeout: "1 second",
            connectRetry: scheme === "socks5"
          })
          assert.strictEqual(ProxyError.find(error)?.reason, "protocol", error.message)
          assert.include(error.message, `could not connect to ${url}: proxy ${scheme}://bob@127.0.0.1:${http.port}: no answer to the SOCKS`)
          assert.include(error.message, "an HTTP proxy takes http://")
        }
        // http:// at a SOCKS proxy
        const wrong = yield* failure({ url, proxy: `http://bob:${SECRET}@127.0.0.1:${socks.port}`, connectTimeout: "1 second", connectRetry: false })
        assert.strictEqual(ProxyError.find(wrong)?.reason, "protocol", wrong.message)
        assert.include(wrong.message, `proxy http://bob@127.0.0.1:${socks.port}`)
      }))

    it.effect("an invalid proxy option fails the layer with InvalidOptions naming it", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(client({ url: "mqtt://127.0.0.1:1883", proxy: `ftp://u:${SECRET}@proxy:21` }))
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.include(error.message, "proxy")
        assert.notInclude(error.message, SECRET)
      }))
  })
})

describe("Server References", () => {
  it("keep the proxy and the WebSocket options of the server that named them", () => {
    const proxy = { protocol: "socks5h" as const, host: "gateway", port: 1080 }
    const websocket = { headers: { "x-a": "b" } }
    const current = { protocol: "wss", host: "a.example", port: 443, path: "/mqtt", proxy, websocket, transport: wss }
    const next = serverReferenceEndpoint("b.example:8443", current, builtins)
    assert.deepStrictEqual([next?.host, next?.port, next?.proxy, next?.websocket], ["b.example", 8443, proxy, websocket])
    const tcp = serverReferenceEndpoint("mqtt://c.example", current, builtins)
    assert.deepStrictEqual([tcp?.protocol, tcp?.proxy, tcp?.websocket], ["mqtt", proxy, undefined])
  })
})
