/**
 * Transports and security: URL schemes, TLS (server auth, mutual TLS, certificate failures as
 * `TlsError`), MQTT over WebSocket (ws://, wss://) against mosquitto, and round-robin over `urls`.
 */
import { ConnectError, MqttClient, TlsError } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { WebSocketServer } from "@effect/platform-node/NodeWS"
import { Context, Effect, Fiber, Layer, Logger, Redacted, Schedule, Stream, SubscriptionRef } from "effect"
import { Socket } from "effect/socket"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { parseUrl } from "../src/Options.ts"
import {
  AedesBroker,
  type CertificateSet,
  Certificates,
  describeMosquitto,
  freePort,
  Mosquitto
} from "./brokers/index.ts"

const fast = Schedule.spaced("100 millis")

const client = (options: Parameters<typeof MqttClient.layer>[0]) =>
  Layer.build(MqttClient.layer({ connectTimeout: "5 seconds", reconnect: fast, ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

const findTlsError = TlsError.find

/** Subscribes, publishes `count` messages from a second connection, returns what arrived. */
const roundTrip = (
  subscriber: MqttClient["Service"],
  publisher: MqttClient["Service"],
  topic: string,
  payloads: ReadonlyArray<string | Uint8Array>
) =>
  Effect.gen(function*() {
    const sub = yield* subscriber.subscription(topic, { qos: 1 })
    const received = yield* sub.messages.pipe(
      Stream.take(payloads.length),
      Stream.runCollect,
      Effect.forkChild({ startImmediately: true })
    )
    for (const payload of payloads) yield* publisher.publish(topic, payload, { qos: 1 })
    return yield* Fiber.join(received).pipe(Effect.timeout("10 seconds"))
  })

describe("parseUrl", () => {
  const cases: ReadonlyArray<[string, string, number, string | undefined]> = [
    ["mqtt://h", "mqtt", 1883, undefined],
    ["tcp://h:1884", "mqtt", 1884, undefined],
    ["mqtts://h", "mqtts", 8883, undefined],
    ["ssl://h", "mqtts", 8883, undefined],
    ["tls://h:9000", "mqtts", 9000, undefined],
    ["ws://h", "ws", 80, "/mqtt"],
    ["ws://h:8080/", "ws", 8080, "/mqtt"],
    ["wss://h", "wss", 443, "/mqtt"],
    ["wss://h:8443/broker/ws?token=1", "wss", 8443, "/broker/ws?token=1"]
  ]
  for (const [url, protocol, port, path] of cases) {
    it.effect(`${url} -> ${protocol} port ${port}${path ?? ""}`, () =>
      Effect.gen(function*() {
        const endpoint = yield* parseUrl(url)
        assert.strictEqual(endpoint.protocol, protocol)
        assert.strictEqual(endpoint.port, port)
        assert.strictEqual(endpoint.path, path)
      }))
  }

  it.effect("wsPath applies to WebSocket URLs without a path", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* parseUrl("ws://h:1", "/custom")).path, "/custom")
      assert.strictEqual((yield* parseUrl("ws://h:1/from-url", "/custom")).path, "/from-url")
    }))

  it.effect("an unknown scheme names the supported ones", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(parseUrl("http://h"))
      assert.include(error.message, "ws://")
    }))
})

const tlsListener = (certs: CertificateSet, server = certs.server) =>
  `cafile ${certs.ca.certFile}\ncertfile ${server.certFile}\nkeyfile ${server.keyFile}`

describeMosquitto("TLS against mosquitto", () => {
  it.live("mqtts:// with the test CA: publish and receive", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs) })
      const url = `mqtts://localhost:${broker.port}`
      const a = yield* client({ url, tls: { ca: certs.ca.cert } })
      // ssl:// and a CA given as bytes, against the IP address (checked against the IP SAN)
      const b = yield* client({ url: `ssl://127.0.0.1:${broker.port}`, tls: { ca: new TextEncoder().encode(certs.ca.cert) } })
      const messages = yield* roundTrip(a, b, "tls/t", ["one", "two"])
      assert.deepStrictEqual(messages.map((m) => m.text), ["one", "two"])
    }))

  it.live("mutual TLS: a client certificate is the identity (use_identity_as_username)", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({
        extraConfig: `${tlsListener(certs)}\nrequire_certificate true\nuse_identity_as_username true`
      })
      const url = `mqtts://localhost:${broker.port}`
      const tls = { ca: certs.ca.cert, cert: certs.client.cert, key: Redacted.make(certs.client.key) }
      const mqtt = yield* client({ url, clientId: "mtls-client", tls })
      const messages = yield* roundTrip(mqtt, mqtt, "mtls/t", ["hello"])
      assert.deepStrictEqual(messages.map((m) => m.text), ["hello"])
      // mosquitto logs "... as mtls-client (p2, c1, k60, u'alice')": the CN became the user name
      let logged = false
      for (let i = 0; i < 40 && !logged; i++) {
        logged = broker.logText().includes("u'alice'")
        if (!logged) yield* Effect.sleep("50 millis")
      }
      assert.isTrue(logged, broker.logText())
    }))

  // TLS 1.3 (the default): the broker's verdict on the client certificate comes after the client's handshake,
  // on the first read; TLS 1.2: during the handshake. Both are a TlsError naming the option, not retried.
  for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
    it.live(`mutual TLS (${version}): no client certificate, or one from another CA, is a TlsError naming tls.cert, not retried`, () =>
      Effect.gen(function*() {
        const certs = yield* Certificates.make()
        const broker = yield* Mosquitto.start({
          extraConfig: `${tlsListener(certs)}\nrequire_certificate true\nuse_identity_as_username true`
        })
        const url = `mqtts://localhost:${broker.port}`
        // a long connectTimeout: a retried failure would show as "could not connect within 20s"
        const none = yield* Effect.flip(client({ url, connectTimeout: "20 seconds", tls: { ca: certs.ca.cert, maxVersion: version } }))
        assert.instanceOf(none, ConnectError)
        assert.isDefined(findTlsError(none), none.message)
        assert.isFalse(none.isRetryable, none.message)
        assert.include(none.message, `could not connect to mqtts://localhost:${broker.port}: TLS: `)
        assert.include(none.message, "tls.cert")
        // TLS 1.2 has no certificate_required alert: mosquitto answers handshake_failure
        assert.include(none.message, version === "TLSv1.3" ? "the broker requires a client certificate" : "it wants a client certificate (tls.cert)")
        const other = yield* Effect.flip(client({
          url,
          connectTimeout: "20 seconds",
          tls: { ca: certs.ca.cert, cert: certs.otherClient.cert, key: Redacted.make(certs.otherClient.key), maxVersion: version }
        }))
        assert.instanceOf(other, ConnectError)
        assert.isDefined(findTlsError(other), other.message)
        assert.isFalse(other.isRetryable)
        assert.include(other.message, "the broker does not trust the client certificate (tls.cert)")
        // the private key never shows up in the error
        assert.notInclude(JSON.stringify(other) + String(other) + other.message, certs.otherClient.key.slice(40, 80))
      }))
  }

  it.live("a broker certificate from an unknown CA fails with TlsError unknown-ca", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs) })
      const error = yield* Effect.flip(client({
        url: `mqtts://localhost:${broker.port}`,
        connectTimeout: "1 second",
        tls: { ca: certs.otherCa.cert }
      }))
      assert.instanceOf(error, ConnectError)
      const tls = findTlsError(error)
      assert.isDefined(tls, error.message)
      assert.strictEqual(tls?.reason, "unknown-ca")
      assert.include(error.message, "TLS: the broker's certificate is not signed by a trusted CA (unknown CA)")
      // without any ca the system store is used, which does not know the test CA either
      const noCa = yield* Effect.flip(client({ url: `tls://localhost:${broker.port}`, connectTimeout: "1 second" }))
      assert.strictEqual(findTlsError(noCa)?.reason, "unknown-ca")
    }))

  it.live("a certificate problem with a single broker fails the layer at once instead of retrying", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs) })
      const started = Date.now()
      const error = yield* Effect.flip(client({ url: `mqtts://localhost:${broker.port}`, connectTimeout: "20 seconds", tls: { ca: certs.otherCa.cert } }))
      assert.strictEqual(findTlsError(error)?.reason, "unknown-ca")
      assert.isBelow(Date.now() - started, 10_000, "retrying cannot fix a certificate: no waiting for connectTimeout")
    }))

  it.live("a certificate for another host fails with TlsError hostname-mismatch", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs) })
      const url = `mqtts://127.0.0.1:${broker.port}`
      const error = yield* Effect.flip(client({ url, connectTimeout: "1 second", tls: { ca: certs.ca.cert, servername: "wrong.example" } }))
      assert.strictEqual(findTlsError(error)?.reason, "hostname-mismatch")
      assert.include(error.message, "hostname mismatch")
      // and the other way round: a broker whose certificate names only wrong.example
      const other = yield* Mosquitto.start({ extraConfig: tlsListener(certs, certs.wrongHost) })
      const error2 = yield* Effect.flip(client({ url: `mqtts://localhost:${other.port}`, connectTimeout: "1 second", tls: { ca: certs.ca.cert } }))
      assert.strictEqual(findTlsError(error2)?.reason, "hostname-mismatch")
    }))

  it.live("an expired broker certificate fails with TlsError expired", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs, certs.expired) })
      const error = yield* Effect.flip(client({ url: `mqtts://localhost:${broker.port}`, connectTimeout: "1 second", tls: { ca: certs.ca.cert } }))
      assert.strictEqual(findTlsError(error)?.reason, "expired")
      assert.strictEqual(findTlsError(error)?.code, "CERT_HAS_EXPIRED")
    }))

  it.live("rejectUnauthorized: false connects to an untrusted broker and warns once", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs) })
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (String(logLevel) === "Warn") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const mqtt = yield* client({
        url: `mqtts://localhost:${broker.port}`,
        tls: { ca: certs.otherCa.cert, rejectUnauthorized: false }
      }).pipe(Effect.provide(Logger.layer([logger])))
      const messages = yield* roundTrip(mqtt, mqtt, "insecure/t", ["x"])
      assert.strictEqual(messages.length, 1)
      assert.strictEqual(warnings.filter((w) => w.includes("rejectUnauthorized")).length, 1, warnings.join("\n"))
    }))
})

describeMosquitto("WebSocket against mosquitto", () => {
  it.live("ws:// (protocol websockets listener): publish and receive, a packet spanning frames", () =>
    Effect.gen(function*() {
      const wsPort = yield* freePort
      const broker = yield* Mosquitto.start({ extraConfig: `listener ${wsPort} lo\nprotocol websockets` })
      const ws = yield* client({ url: `ws://127.0.0.1:${wsPort}` })
      const tcp = yield* client({ url: broker.url })
      // mosquitto 2.0.11 sends large messages over WebSocket slowly (300 kB take ~7 s, with mqtt.js too)
      const big = new Uint8Array(64_000).map((_, i) => i % 251)
      const messages = yield* roundTrip(ws, tcp, "ws/t", ["small", big])
      assert.strictEqual(messages[0]?.text, "small")
      assert.deepStrictEqual(messages[1]?.payload, big)
      // and the other way round, with the path given as wsPath
      const ws2 = yield* client({ url: `ws://localhost:${wsPort}`, wsPath: "/mqtt" })
      const back = yield* roundTrip(tcp, ws2, "ws/back", ["from ws"])
      assert.strictEqual(back[0]?.text, "from ws")
    }))

  it.live("wss:// with the test CA; an unknown CA fails with TlsError", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const wssPort = yield* freePort
      const broker = yield* Mosquitto.start({
        extraConfig: `listener ${wssPort} lo\nprotocol websockets\n${tlsListener(certs)}`
      })
      const wss = yield* client({ url: `wss://localhost:${wssPort}/mqtt`, tls: { ca: certs.ca.cert } })
      const tcp = yield* client({ url: broker.url })
      const messages = yield* roundTrip(wss, tcp, "wss/t", ["secure"])
      assert.strictEqual(messages[0]?.text, "secure")
      const error = yield* Effect.flip(client({ url: `wss://localhost:${wssPort}`, connectTimeout: "1 second", tls: { ca: certs.otherCa.cert } }))
      assert.strictEqual(findTlsError(error)?.reason, "unknown-ca", error.message)
      assert.include(error.message, "unknown CA")
    }))
})

/** A scripted WebSocket "broker": accepts the `mqtt` subprotocol, answers CONNECT, then sends what the test says. */
const fakeWsBroker = Effect.acquireRelease(
  Effect.callback<{
    readonly server: WebSocketServer
    readonly port: number
    readonly paths: Array<string>
    readonly offered: Array<string>
    readonly closes: Array<number>
    readonly send: (frames: ReadonlyArray<Uint8Array | string>) => Effect.Effect<void>
  }>((resume) => {
    const paths: Array<string> = []
    const offered: Array<string> = []
    const closes: Array<number> = []
    const sockets: Array<{ send: (data: Uint8Array | string) => void }> = []
    const server = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (protocols) => {
        offered.push(...protocols)
        return protocols.has("mqtt") ? "mqtt" : false
      }
    })
    server.on("connection", (socket, request) => {
      paths.push(request.url ?? "")
      socket.on("close", (code) => closes.push(code))
      socket.once("message", () => {
        sockets.push(socket)
        // CONNACK (accepted) split over two messages [MQTT-6.0.0-2]
        socket.send(Uint8Array.of(0x20))
        socket.send(Uint8Array.of(0x02, 0x00, 0x00))
      })
    })
    server.on("listening", () => {
      const address = server.address()
      resume(Effect.succeed({
        server,
        port: typeof address === "object" && address !== null ? address.port : 0,
        paths,
        offered,
        closes,
        send: (frames) =>
          Effect.sync(() => {
            const socket = sockets[sockets.length - 1]
            for (const frame of frames) socket?.send(frame)
          })
      }))
    })
  }),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      for (const client of server.clients) client.terminate()
      server.close(() => resume(Effect.void))
    })
)

const text = (s: string) => new TextEncoder().encode(s)

describe("WebSocket support is loaded on first use", () => {
  it("importing the client does not load the `ws` package (a ws:// or wss:// URL loads it when it connects)", () => {
    // A fresh Node process: this test process has loaded `ws` already (WebSocketServer above).
    const script = [
      "const { createRequire } = await import('node:module')",
      "const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /[\\\\/]ws[\\\\/]/.test(k)).length",
      "await import('@aimeqtt/client')",
      "const before = loaded()",
      "await import('@effect/platform-node/NodeWS')",
      "console.log(JSON.stringify({ before, after: loaded() }))"
    ].join(";")
    const out = execFileSync(process.execPath, ["--conditions=@aimeqtt/source", "--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      encoding: "utf8"
    })
    const { before, after } = JSON.parse(out.trim().split("\n").pop()!) as { before: number; after: number }
    assert.strictEqual(before, 0, "no module of `ws` after importing @aimeqtt/client")
    assert.isAbove(after, 0, "the probe sees `ws` once NodeWS is imported")
  })
})

describe("WebSocket framing (scripted broker)", () => {
  it.live("offers the mqtt subprotocol on the path, reassembles packets across frames, several packets per frame", () =>
    Effect.gen(function*() {
      const broker = yield* fakeWsBroker
      const mqtt = yield* client({ url: `ws://127.0.0.1:${broker.port}`, wsPath: "/custom/path" })
      assert.deepStrictEqual(broker.offered, ["mqtt"]) // [MQTT-6.0.0-3]
      assert.deepStrictEqual(broker.paths, ["/custom/path"])
      const received = yield* mqtt.messages.pipe(Stream.take(2), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
      yield* Effect.sleep("50 millis")
      // PUBLISH a/b "hello" (remaining length 10) over four frames; the last also holds all of PUBLISH a/c "x"
      yield* broker.send([
        Uint8Array.of(0x30),
        Uint8Array.of(0x0a, 0x00),
        Uint8Array.of(0x03, ...text("a/bh")),
        Uint8Array.of(...text("ello"), 0x30, 0x06, 0x00, 0x03, ...text("a/cx"))
      ])
      const messages = yield* Fiber.join(received).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(messages.map((m) => [m.topic, m.text]), [["a/b", "hello"], ["a/c", "x"]])
    }))

  it.live("a text frame closes the connection [MQTT-6.0.0-1]", () =>
    Effect.gen(function*() {
      const broker = yield* fakeWsBroker
      const mqtt = yield* client({ url: `ws://127.0.0.1:${broker.port}/mqtt`, reconnect: Schedule.spaced("1 minute") })
      const disconnected = yield* SubscriptionRef.changes(mqtt.status).pipe(
        Stream.filter((status) => status._tag === "Disconnected"),
        Stream.take(1),
        Stream.runHead,
        Effect.forkChild({ startImmediately: true })
      )
      yield* Effect.sleep("50 millis")
      yield* broker.send(["not binary"])
      const status = yield* Fiber.join(disconnected).pipe(Effect.timeout("5 seconds"))
      const cause = status._tag === "Some" && status.value._tag === "Disconnected" ? status.value.cause : undefined
      assert.strictEqual(cause?._tag, "ConnectionLost")
      const socketError = cause !== undefined && "cause" in cause ? cause.cause : undefined
      assert.instanceOf(socketError, Socket.SocketError)
      assert.include(String(socketError?.reason.cause), "text frame")
      for (let i = 0; i < 40 && broker.closes.length === 0; i++) yield* Effect.sleep("50 millis")
      assert.strictEqual(broker.closes.length, 1)
    }))
})

describe("urls: round-robin", () => {
  it.live("skips a refused URL, and moves on to the next broker when the connection drops", () =>
    Effect.gen(function*() {
      const closed = yield* freePort
      const a = yield* AedesBroker.start()
      const b = yield* AedesBroker.start()
      const mqtt = yield* client({ urls: [`mqtt://127.0.0.1:${closed}`, a.url, b.url], clientId: "rr" })
      assert.strictEqual(a.connectedClients(), 1)
      assert.strictEqual(b.connectionCount(), 0)
      yield* a.dropConnections
      yield* b.awaitEvent("connack:rr:0", 5000)
      assert.strictEqual(b.connectionCount(), 1)
      // from b, the next is the refused port again, then a
      const before = a.connectionCount()
      yield* b.dropConnections
      for (let i = 0; i < 100 && a.connectionCount() === before; i++) yield* Effect.sleep("50 millis")
      assert.strictEqual(a.connectionCount(), before + 1)
      // and the client works there
      const messages = yield* roundTrip(mqtt, mqtt, "rr/t", ["back on a"])
      assert.strictEqual(messages[0]?.text, "back on a")
    }))
})
