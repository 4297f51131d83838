/**
 * The scheme registry and transports of the program's own (issue 15): `Transport.make` + `Transport.layer`
 * add a scheme that `parseUrl`, `MqttClient.layer` and Server References all know; a transport claiming a
 * built-in scheme replaces the built-in. The in-memory transport here is the example of TRANSPORTS.md.
 */
import { MqttClient, parseUrl, Transport } from "@aimeqtt/client"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Schedule, Stream } from "effect"
import { type Duplex, duplexPair } from "node:stream"
import { AedesBroker } from "./brokers/index.ts"

/** A transport for `mem://` URLs: each connection is a pair of in-process streams, one end handed to `accept`. */
const memoryTransport = (accept: (serverSide: Duplex) => void) =>
  Transport.make({
    schemes: ["mem"],
    defaultPort: 0,
    connect: () =>
      Effect.flatMap(
        NodeSocket.fromDuplex(Effect.sync(() => {
          const [client, server] = duplexPair()
          accept(server)
          return client
        })),
        Transport.fromSocket
      )
  })

const client = (options: Parameters<typeof MqttClient.layer>[0], transports: ReadonlyArray<Transport.Transport>) =>
  Layer.build(
    MqttClient.layer({ connectTimeout: "5 seconds", reconnect: Schedule.spaced("100 millis"), ...options }).pipe(
      Layer.provide(Transport.layer(...transports))
    )
  ).pipe(Effect.map((context) => Context.get(context, MqttClient)))

describe("the scheme registry", () => {
  it.effect("parseUrl knows the built-in schemes, and a registered one only under its layer", () =>
    Effect.gen(function*() {
      const unknown = yield* Effect.flip(parseUrl("mem://broker"))
      assert.strictEqual(unknown.message, 'unsupported URL scheme "mem:" (use mqtt://, mqtts://, ws://, wss:// or mqtt+unix://)')
      const memory = memoryTransport(() => undefined)
      const endpoint = yield* parseUrl("MEM://broker").pipe(Effect.provide(Transport.layer(memory)))
      const { transport, ...where } = endpoint
      assert.deepStrictEqual(where, { protocol: "mem", host: "broker", port: 0 })
      assert.strictEqual(transport, memory, "the endpoint carries the transport its scheme named")
      const listed = yield* Effect.flip(parseUrl("gopher://x").pipe(Effect.provide(Transport.layer(memory))))
      assert.include(listed.message, "wss://, mqtt+unix:// or mem://)")
      // a query is refused as for mqtt:// (a "host" address), unless the transport reads it
      const query = yield* Effect.flip(parseUrl("mem://broker?x=1").pipe(Effect.provide(Transport.layer(memory))))
      assert.include(query.message, "is not read for mem://")
    }))

  it.effect("Transport.make: schemes are matched in lower case without ':'; a transport without a default port needs one in the URL", () =>
    Effect.gen(function*() {
      const noPort = Transport.make({ schemes: ["Quic:"], connect: () => Effect.die("not dialled") })
      assert.deepStrictEqual(noPort.schemes, ["quic"])
      const missing = yield* Effect.flip(parseUrl("quic://broker").pipe(Effect.provide(Transport.layer(noPort))))
      assert.strictEqual(missing.message, "a quic:// URL needs a port (quic:// has no default port)")
      const given = yield* parseUrl("quic://broker:4433").pipe(Effect.provide(Transport.layer(noPort)))
      assert.strictEqual(given.port, 4433)
    }))
})

describe("a transport of the program's own (Transport.layer)", () => {
  it.live("an in-memory transport: publish and receive through mem://, handed to an embedded aedes", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      let connections = 0
      const memory = memoryTransport((serverSide) => {
        connections++
        broker.broker.handle(serverSide)
      })
      const mqtt = yield* client({ url: "mem://aedes", clientId: "in-memory" }, [memory])
      const received = yield* mqtt.subscribe("mem/t", { qos: 1 }).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.forkChild({ startImmediately: true })
      )
      yield* broker.awaitEvent("subscribe:in-memory:mem/t")
      yield* mqtt.publish("mem/t", "one", { qos: 1 })
      yield* mqtt.publish("mem/t", "two", { qos: 1 })
      const messages = yield* Fiber.join(received).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(messages.map((m) => m.text), ["one", "two"])
      assert.strictEqual(connections, 1)
      assert.strictEqual(broker.connectionCount(), 0, "no TCP connection reached the broker")
    }))

  it.live("a transport claiming mqtt:// replaces the built-in (a wrapped TCP transport)", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const dialled: Array<string> = []
      const wrapped = Transport.make({
        schemes: ["mqtt"],
        defaultPort: 1883,
        connect: (endpoint, timeout) =>
          Effect.suspend(() => {
            dialled.push(`${endpoint.host}:${endpoint.port}`)
            return Transport.tcp.connect(endpoint, timeout)
          })
      })
      const mqtt = yield* client({ url: broker.url }, [wrapped])
      yield* mqtt.publish("wrapped/t", "x", { qos: 1 })
      assert.deepStrictEqual(dialled, [`127.0.0.1:${broker.port}`])
      assert.strictEqual(broker.connectionCount(), 1)
      // tcp:// is still the built-in's (the wrapper claimed only mqtt)
      yield* client({ url: broker.url.replace("mqtt://", "tcp://") }, [wrapped])
      assert.strictEqual(dialled.length, 1)
      assert.strictEqual(broker.connectionCount(), 2)
    }))

  it.live("a failing custom transport: its SocketError becomes a ConnectError naming the endpoint", () =>
    Effect.gen(function*() {
      const broken = Transport.make({
        schemes: ["broken"],
        defaultPort: 7,
        connect: () => Effect.flatMap(NodeSocket.makeNet({ path: "/nonexistent/aimeqtt.sock" }), Transport.fromSocket)
      })
      const error = yield* Effect.flip(client({ url: "broken://somewhere", connectRetry: false }, [broken]))
      assert.strictEqual(error._tag, "ConnectError")
      assert.include(error.message, "could not connect to broken://somewhere:7: connect ENOENT /nonexistent/aimeqtt.sock")
    }))
})

describe("a transport of the program's own that misbehaves", () => {
  const broken = (connect: Transport.Transport["connect"]) => Transport.make({ schemes: ["broken"], defaultPort: 1, connect })
  const cases: ReadonlyArray<readonly [string, Transport.Transport["connect"], string, boolean]> = [
    ["dies", () => Effect.die(new Error("bug in connect")), "the connect of the broken:// transport failed unexpectedly: bug in connect", true],
    ["throws", () => {
      throw new Error("thrown by connect")
    }, "the connect of the broken:// transport failed unexpectedly: thrown by connect", true],
    ["returns undefined", () => undefined as never, "the connect of the broken:// transport must return an Effect, got undefined", false],
    ["succeeds with no Channel", () => Effect.succeed({} as never), "the connect of the broken:// transport must succeed with a Channel", false]
  ]
  for (const [name, connect, expected, retryable] of cases) {
    it.live(`one whose connect ${name} fails the attempt with a ConnectError naming it${retryable ? "" : ", not retried"}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(client({ url: "broken://x", connectTimeout: "1 second" }, [broken(connect)]))
        assert.strictEqual(error._tag, "ConnectError")
        assert.include(error.message, `could not connect to broken://x:1: ${expected}`)
        assert.strictEqual(error.isRetryable, retryable, error.message)
      }).pipe(Effect.scoped))
  }

  it.live("one whose connect never completes: the timeout says so, not that the broker sent no CONNACK", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(client({ url: "broken://x", connectTimeout: "300 millis", connectRetry: false }, [broken(() => Effect.never)]))
      assert.strictEqual(error._tag, "ConnectError")
      assert.include(error.message, "could not connect to broken://x:1: the connect of the broken:// transport did not complete within 300")
      assert.notInclude(error.message, "CONNACK")
    }).pipe(Effect.scoped))
})
