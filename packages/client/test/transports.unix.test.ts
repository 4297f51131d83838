/**
 * Unix domain sockets (issue 15): `mqtt+unix:///path/to/socket` against mosquitto 2 listening with
 * `listener 0 /path/to/socket`; a missing socket is a `ConnectError` naming the path; the URL grammar;
 * the browser's sockets refuse the scheme.
 */
import { ConnectError, MqttClient, parseUrl } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Schedule, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as BrowserSockets from "../src/Transport.browser.ts"
import { describeMosquitto, Mosquitto, mosquittoPub } from "./brokers/index.ts"

const client = (options: Parameters<typeof MqttClient.layer>[0]) =>
  Layer.build(MqttClient.layer({ connectTimeout: "5 seconds", reconnect: Schedule.spaced("100 millis"), ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

/** A 0777 temp dir (mosquitto, started as root, drops to user `mosquitto` before it binds the socket), removed on scope close. */
const socketDir = (name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const parent = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-unix-"))
      const dir = Path.join(parent, name)
      Fs.mkdirSync(dir)
      Fs.chmodSync(parent, 0o777)
      Fs.chmodSync(dir, 0o777)
      return { parent, dir }
    }),
    ({ parent }) => Effect.sync(() => Fs.rmSync(parent, { recursive: true, force: true }))
  )

const urlOf = (path: string) => `mqtt+unix://${path.split("/").map(encodeURIComponent).join("/")}`

describe("mqtt+unix:// URLs", () => {
  it.effect("the path is the socket file, percent-decoded; a host, a query or no path fail naming the form", () =>
    Effect.gen(function*() {
      const endpoint = yield* parseUrl("mqtt+unix:///run/my%20broker/mqtt.sock")
      assert.deepInclude(endpoint, { protocol: "mqtt+unix", path: "/run/my broker/mqtt.sock" })
      assert.strictEqual(endpoint.transport?.address, "file")
      const host = yield* Effect.flip(parseUrl("mqtt+unix://run/mqtt.sock"))
      assert.strictEqual(
        host.message,
        'a mqtt+unix:// URL names a socket file: mqtt+unix:///path/to/socket (three slashes, no host), got "mqtt+unix://run/mqtt.sock"'
      )
      assert.include((yield* Effect.flip(parseUrl("mqtt+unix:///"))).message, "names a socket file")
      const query = yield* Effect.flip(parseUrl("mqtt+unix:///run/mqtt.sock?clientId=x"))
      assert.include(query.message, "is not read for mqtt+unix://")
      // unix:// is not an alias (MQTT.js and this client spell it mqtt+unix://): the message lists it
      assert.include((yield* Effect.flip(parseUrl("unix:///run/mqtt.sock"))).message, "mqtt+unix://")
    }))

  it.effect("in a browser the socket is refused with a ConnectError saying why", () =>
    Effect.gen(function*() {
      const endpoint = yield* parseUrl("mqtt+unix:///run/mqtt.sock")
      const error = yield* Effect.flip(BrowserSockets.unix(endpoint, Duration.seconds(1)))
      assert.instanceOf(error, ConnectError)
      assert.strictEqual(error.message, "mqtt+unix:// needs a Unix domain socket, which browsers do not have: use a ws:// or wss:// URL")
    }))
})

describeMosquitto("Unix domain sockets against mosquitto (listener 0 PATH)", () => {
  it.live("publish and subscribe through the socket (its path has a space), with TCP and mosquitto_pub as peers", () =>
    Effect.gen(function*() {
      const { dir, parent } = yield* socketDir("broker")
      const socket = Path.join(dir, "mqtt.sock")
      const broker = yield* Mosquitto.start({ extraConfig: `listener 0 ${socket}` })
      // mosquitto's config cannot name a path with a space; the client reaches it through a link that has one
      const spaced = Path.join(parent, "my broker")
      Fs.symlinkSync(dir, spaced)
      const unix = yield* client({ url: urlOf(Path.join(spaced, "mqtt.sock")), clientId: "over-unix" })
      const tcp = yield* client({ url: broker.url })
      const received = yield* unix.subscribe("unix/#", { qos: 1 }).pipe(
        Stream.take(3),
        Stream.runCollect,
        Effect.forkChild({ startImmediately: true })
      )
      for (let i = 0; i < 100 && !broker.logText().includes("SUBSCRIBE from over-unix"); i++) yield* Effect.sleep("20 millis")
      yield* unix.publish("unix/self", "from the socket", { qos: 1 })
      yield* tcp.publish("unix/tcp", "from tcp", { qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "unix/cli", message: "from mosquitto_pub", qos: 1 })
      const messages = yield* Fiber.join(received).pipe(Effect.timeout("10 seconds"))
      assert.deepStrictEqual(messages.map((m) => `${m.topic} ${m.text}`).sort(), [
        "unix/cli from mosquitto_pub",
        "unix/self from the socket",
        "unix/tcp from tcp"
      ])
      // mosquitto names the socket as the client's address
      assert.include(broker.logText(), `New client connected from ${socket}:0 as over-unix`)
    }))

  it.live("a socket file that does not exist fails with a ConnectError naming the path", () =>
    Effect.gen(function*() {
      const { dir } = yield* socketDir("empty")
      const missing = Path.join(dir, "nobody-listens.sock")
      const error = yield* Effect.flip(client({ url: urlOf(missing), connectRetry: false }))
      assert.instanceOf(error, ConnectError)
      assert.include(error.message, `could not connect to mqtt+unix://${missing}`)
      assert.include(error.message, "ENOENT")
      assert.isTrue(error.isRetryable, "a socket that appears later may be connected to")
    }))
})
