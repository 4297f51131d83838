/**
 * The client against scripted fake brokers: protocol violations, hanging brokers and unreachable
 * ports. Every test is bounded in time and must not crash the process.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Logger, Schedule, Scope, Stream } from "effect"
import { AedesBroker, connackBytes, CutProxy, FakeBroker, type FakeConnection, FakeScripts, freePort, subackBytes } from "./brokers/index.ts"
import { awaitStatus, client, recordStatus, stopwatch } from "./util.ts"

/** Connection 1 runs `first`; later connections get CONNACK 0 and stay open. */
const firstThen = (first: (conn: FakeConnection) => Effect.Effect<unknown, unknown>) => (conn: FakeConnection) =>
  conn.index === 1 ? first(conn) : FakeScripts.connack(0)(conn)

/** Reads CONNECT, answers CONNACK 0, waits a moment (so the bytes are not coalesced), then sends `bytes`. */
const connackThen = (bytes: ReadonlyArray<number>) => (conn: FakeConnection) =>
  Effect.gen(function*() {
    yield* conn.readPacket
    yield* conn.write(connackBytes(0))
    yield* Effect.sleep("100 millis")
    yield* conn.write(bytes)
    yield* conn.awaitClose
  })

/** Whether a packet the client sent is a SUBSCRIBE. */
const isSubscribe = (packet: Uint8Array): boolean => (packet[0] as number) >> 4 === 8

/** SUBACK granting QoS 1 to a SUBSCRIBE of one filter. */
const subackFor = (subscribe: Uint8Array): Uint8Array => subackBytes(((subscribe[2] as number) << 8) | (subscribe[3] as number), [1])

const fast = { reconnect: Schedule.spaced("100 millis"), connectTimeout: "3 seconds" } as const

/**
 * Runs `body` with a client closed explicitly at its end, before the fake broker's scope closes (closing both
 * in one scope hits the 5 s DISCONNECT wait of the bug documented at the end of this file).
 */
const withClient = <A, E, R>(
  url: string,
  options: Parameters<typeof client>[1],
  body: (mqtt: Effect.Success<ReturnType<typeof client>>) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const mqtt = yield* client(url, options).pipe(Scope.provide(scope))
    const result = yield* body(mqtt).pipe(Effect.onExit(() => Scope.close(scope, Exit.void)))
    return result
  })

/** The client connects, the broker violates the protocol, the client reports ProtocolError and reconnects. */
const violationThenReconnect = (bytes: ReadonlyArray<number>, expectedMessage: RegExp) =>
  Effect.gen(function*() {
    const broker = yield* FakeBroker.start(firstThen(connackThen(bytes)))
    yield* withClient(broker.url, fast, (mqtt) =>
      Effect.gen(function*() {
        const seen = yield* recordStatus(mqtt)
        const lost = yield* awaitStatus(mqtt, (s) => s._tag === "Disconnected")
        assert.strictEqual(lost._tag === "Disconnected" ? lost.cause?._tag : undefined, "ProtocolError")
        if (lost._tag === "Disconnected" && lost.cause !== undefined) assert.match(lost.cause.message, expectedMessage)
        yield* broker.awaitConnections(2)
        yield* awaitStatus(mqtt, (s) => s._tag === "Connected" && seen.some((x) => x._tag === "Reconnecting"))
        assert.isAtLeast(broker.connectionCount(), 2)
        // still usable after the reconnect
        yield* mqtt.publish("after/violation", "ok").pipe(Effect.timeout("2 seconds"))
      }))
  })

describe("MqttClient against a misbehaving broker", () => {
  it.live("CONNACK then garbage: Disconnected with ProtocolError, then reconnects", () =>
    violationThenReconnect([0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff], /malformed/))

  it.live("PUBACK for an unknown packet id: ProtocolError, then reconnects", () =>
    violationThenReconnect([0x40, 0x02, 0x00, 0x07], /PUBACK/))

  it.live("a CONNECT packet from the broker: ProtocolError, then reconnects", () =>
    violationThenReconnect(
      // CONNECT, protocol "MQTT" level 4, clean session, keep-alive 60, empty client id
      [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00],
      /CONNECT/
    ))

  it.live("SUBACK for an unknown packet id: ProtocolError, then reconnects", () =>
    violationThenReconnect([0x90, 0x03, 0x12, 0x34, 0x00], /SUBACK/))

  it.live("CONNACK and garbage in one chunk: the attempt fails, the client retries and connects", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(firstThen((conn) =>
        Effect.gen(function*() {
          yield* conn.readPacket
          yield* conn.write([...connackBytes(0), 0x00, 0x00, 0xf0, 0xff])
          yield* conn.awaitClose
        })
      ))
      yield* withClient(broker.url, fast, (mqtt) =>
        Effect.gen(function*() {
          const status = yield* awaitStatus(mqtt, (s) => s._tag === "Connected", "3 seconds")
          assert.strictEqual(status._tag, "Connected")
          assert.isAtLeast(broker.connectionCount(), 2)
        }))
    }))

  it.live("a broker that always sends garbage after CONNACK: keeps reconnecting, never crashes", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(FakeScripts.connackThenGarbage())
      const exit = yield* Effect.gen(function*() {
        const mqtt = yield* client(broker.url, { reconnect: Schedule.spaced("50 millis"), connectTimeout: "1 second" })
        yield* broker.awaitConnections(3)
        return mqtt
      }).pipe(Effect.scoped, Effect.timeout("5 seconds"), Effect.exit)
      yield* broker.awaitConnections(2)
      // Either the first CONNACK was read alone (the layer built, then the connections kept failing) or
      // it came with the garbage every time (the layer failed with ConnectError, caused by ProtocolError).
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons.find((r) => r._tag === "Fail")
        assert.isDefined(error, String(exit.cause))
        if (error?._tag === "Fail") {
          assert.strictEqual(error.error._tag, "ConnectError")
          if (error.error._tag === "ConnectError") {
            assert.strictEqual((error.error.cause as { _tag?: unknown } | undefined)?._tag, "ProtocolError")
          }
        }
      }
    }))

  it.live("a second CONNACK is a protocol violation", () => violationThenReconnect([0x20, 0x02, 0x00, 0x00], /CONNACK/))
})

describe("MqttClient: hanging and unreachable brokers", () => {
  it.live("connecting is interruptible: a broker that never answers, timeout 500 ms", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(FakeScripts.silent())
      const elapsed = stopwatch()
      const error = yield* Effect.scoped(client(broker.url, { connectTimeout: "30 seconds" })).pipe(
        Effect.timeout("500 millis"),
        Effect.flip
      )
      assert.strictEqual(error._tag, "TimeoutError")
      assert.isBelow(elapsed(), 2000)
    }))

  it.live("no CONNACK within connectTimeout fails the layer with ConnectError", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(FakeScripts.silent())
      const elapsed = stopwatch()
      const error = yield* Effect.scoped(client(broker.url, { connectTimeout: "700 millis", reconnect: Schedule.spaced("100 millis") })).pipe(
        Effect.flip,
        Effect.timeout("5 seconds")
      )
      assert.strictEqual(error._tag, "ConnectError")
      assert.isBelow(elapsed(), 2500)
    }))

  it.live("nothing listening: retried, then ConnectError within connectTimeout", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const elapsed = stopwatch()
      const error = yield* Effect.scoped(
        client(`mqtt://127.0.0.1:${port}`, { connectTimeout: "800 millis", reconnect: Schedule.spaced("100 millis") })
      ).pipe(Effect.flip, Effect.timeout("5 seconds"))
      assert.strictEqual(error._tag, "ConnectError")
      assert.isBelow(elapsed(), 2500)
      assert.match(error.message, /800|connect/)
    }))

  it.live("a broker that closes right after CONNECT is retried, and the layer fails with ConnectError", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(FakeScripts.closeAfterConnect())
      const error = yield* Effect.scoped(client(broker.url, { connectTimeout: "600 millis", reconnect: Schedule.spaced("50 millis") })).pipe(
        Effect.flip,
        Effect.timeout("5 seconds")
      )
      assert.strictEqual(error._tag, "ConnectError")
      assert.isAtLeast(broker.connectionCount(), 2)
    }))

  it.live("closing the client writes DISCONNECT as its last packet", () =>
    Effect.gen(function*() {
      const connections: Array<FakeConnection> = []
      const broker = yield* FakeBroker.start((conn) => {
        connections.push(conn)
        return FakeScripts.connack(0)(conn)
      })
      const scope = yield* Scope.make()
      yield* client(broker.url, { clientId: "bye" }).pipe(Scope.provide(scope))
      yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("3 seconds"))
      const conn = connections[0]
      assert.isDefined(conn)
      if (conn === undefined) return
      yield* conn.awaitClose.pipe(Effect.timeout("2 seconds"))
      const bytes = [...conn.received()]
      assert.deepStrictEqual(bytes.slice(-2), [0xe0, 0x00])
      assert.strictEqual(bytes[0], 0x10) // CONNECT first
    }))

  it.live("a reconnect waits for the schedule (no busy loop)", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(firstThen(connackThen([0x00, 0x00])))
      yield* withClient(broker.url, { reconnect: Schedule.spaced("400 millis"), connectTimeout: "3 seconds" }, (mqtt) =>
        Effect.gen(function*() {
          yield* awaitStatus(mqtt, (s) => s._tag === "Disconnected")
          const elapsed = stopwatch()
          const reconnecting = yield* awaitStatus(mqtt, (s) => s._tag === "Reconnecting")
          if (reconnecting._tag === "Reconnecting") {
            assert.strictEqual(reconnecting.attempt, 1)
            assert.strictEqual(Duration.toMillis(reconnecting.delay), 400)
          }
          yield* awaitStatus(mqtt, (s) => s._tag === "Connected")
          assert.isAtLeast(elapsed(), 350)
        }))
    }))

  it.live("Reconnecting.delay is whole milliseconds, also from a jittered schedule (it printed as 844946141 nanos)", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(firstThen(connackThen([0x00, 0x00])))
      const reconnect = Schedule.spaced("300 millis").pipe(Schedule.jittered)
      yield* withClient(broker.url, { reconnect, connectTimeout: "3 seconds" }, (mqtt) =>
        Effect.gen(function*() {
          const reconnecting = yield* awaitStatus(mqtt, (s) => s._tag === "Reconnecting")
          assert.strictEqual(reconnecting._tag, "Reconnecting")
          if (reconnecting._tag !== "Reconnecting") return
          assert.match(String(reconnecting.delay), /^\d+ millis$/)
          assert.notInclude(Duration.format(reconnecting.delay), "ns")
          assert.isTrue(Number.isInteger(Duration.toMillis(reconnecting.delay)))
        }))
    }))

  // Regression (fixed): a QoS 0 publish whose bytes are not written when the connection dies never settles (observed: even
  // the big one below hangs). Two holes in Connection.ts: (1) the writer (l.117-131) is INTERRUPTED by
  // `run`'s ensuring (l.188) while blocked in `channel.write`, so the items it took never get `onWritten`;
  // (2) `failPending` (l.168-173) calls `Queue.shutdown(outbox)` first, which discards the buffered items, so
  // `Queue.clear` returns [] and their callbacks are lost too. Expected: every pending write fails with
  // ConnectionLost (e.g. track taken items and fail them in an onInterrupt; clear before shutdown).
  it.live("a QoS 0 publish queued behind a blocked write settles when the connection dies", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const proxy = yield* CutProxy.start({ target: broker.port })
      const mqtt = yield* client(proxy.url, { reconnect: Schedule.spaced("5 seconds") })
      yield* proxy.pause // the network freezes: the kernel buffers fill up and the writer blocks
      const big = yield* mqtt.publish("big", new Uint8Array(16 * 1024 * 1024)).pipe(
        Effect.exit,
        Effect.forkChild({ startImmediately: true })
      )
      yield* Effect.sleep("300 millis")
      const small = yield* mqtt.publish("small", "x").pipe(Effect.exit, Effect.forkChild({ startImmediately: true }))
      yield* Effect.sleep("50 millis")
      yield* proxy.resetAll
      const first = yield* Fiber.join(big).pipe(Effect.timeout("3 seconds"), Effect.mapError(() => new Error("the big publish did not settle")))
      const second = yield* Fiber.join(small).pipe(Effect.timeout("3 seconds"), Effect.mapError(() => new Error("the queued small publish did not settle")))
      assert.isTrue(Exit.isFailure(first))
      assert.isTrue(Exit.isFailure(second))
    }), 15_000)

  // Regression (fixed): same cause: closing the client while the broker drops the connection waits the full 5 s DISCONNECT
  // timeout (Supervisor.ts:244 + Connection.ts:170). Seen when the fake broker's connection is torn down
  // by the same scope that closes the client.
  it.live("closing the client right after it connected, with the broker in the same scope, is prompt", () =>
    Effect.gen(function*() {
      const elapsed = yield* Effect.gen(function*() {
        const broker = yield* FakeBroker.start(FakeScripts.connack(0))
        yield* client(broker.url)
        return stopwatch()
      }).pipe(Effect.scoped)
      assert.isBelow(elapsed(), 1000, `closing took ${elapsed()} ms`)
    }), 15_000)
})

describe("a broker that answers a QoS 2 PUBLISH with PUBACK (RabbitMQ 3.10)", () => {
  it.live("the publish completes as QoS 1, once: no protocol error, no reconnect, no re-send loop; one warning", () =>
    Effect.gen(function*() {
      const publishes: Array<number> = []
      const broker = yield* FakeBroker.start(FakeScripts.connackThenEach((conn, packet) =>
        Effect.gen(function*() {
          if ((packet[0] as number) >> 4 !== 3) return
          publishes.push(conn.index)
          // The packet id follows the topic: 2-byte length + topic.
          const topicLength = ((packet[2] as number) << 8) | (packet[3] as number)
          const id = packet.subarray(4 + topicLength, 6 + topicLength)
          yield* conn.write([0x40, 0x02, id[0] as number, id[1] as number]) // PUBACK, not PUBREC
        })
      ))
      const warnings: Array<string> = []
      const logger = Logger.make((entry) => {
        if (entry.logLevel === "Warn") warnings.push(String(entry.message))
      })
      yield* withClient(broker.url, fast, (mqtt) =>
        Effect.gen(function*() {
          yield* mqtt.publish("q2/a", "one", { qos: 2 }).pipe(Effect.timeout("3 seconds"))
          yield* mqtt.publish("q2/b", "two", { qos: 2 }).pipe(Effect.timeout("3 seconds"))
        })).pipe(Effect.provide(Logger.layer([logger])))
      assert.deepStrictEqual(publishes, [1, 1], "each PUBLISH sent once, on the first connection")
      assert.strictEqual(broker.connectionCount(), 1, "no reconnect")
      assert.strictEqual(warnings.filter((w) => w.includes("PUBACK instead of PUBREC")).length, 1, warnings.join("\n"))
    }))
})

describe("a broker that accepts the connection, then closes it on SUBSCRIBE, every time (RabbitMQ, queue on a dead node)", () => {
  it.live("the reconnect schedule's limit holds (the outage goes on), and status and the error say which SUBSCRIBE went unanswered", () =>
    Effect.gen(function*() {
      const broker = yield* FakeBroker.start(FakeScripts.connackThenEach((_conn, packet) =>
        Effect.succeed(isSubscribe(packet) ? "close" : undefined) // SUBSCRIBE: closed, no SUBACK
      ))
      const reconnect = Schedule.max([Schedule.spaced("50 millis"), Schedule.recurs(3)])
      const { statuses } = yield* withClient(broker.url, { reconnect, connectTimeout: "3 seconds" }, (mqtt) =>
        Effect.gen(function*() {
          const statuses = yield* recordStatus(mqtt)
          const error = yield* mqtt.subscribe("cmd/#", { qos: 1 }).pipe(Stream.runDrain, Effect.flip, Effect.timeout("10 seconds"))
          assert.strictEqual(error._tag, "ConnectionLost")
          assert.include(error.message, "before it answered the SUBSCRIBE to cmd/#")
          return { statuses }
        }).pipe(Effect.scoped))
      assert.strictEqual(broker.connectionCount(), 4, "the first connection and 3 reconnects, then the client gave up")
      const causes = statuses.flatMap((s) => s._tag === "Disconnected" && s.cause !== undefined ? [s.cause.message] : [])
      assert.isTrue(causes.some((m) => m.includes("SUBSCRIBE to cmd/#")), causes.join("\n"))
      const attempts = statuses.flatMap((s) => s._tag === "Reconnecting" ? [s.attempt] : [])
      assert.deepStrictEqual(attempts, [1, 2, 3], "one outage: attempts count on")
    }))
})

describe("the client gives up reconnecting", () => {
  it.live("open subscription streams fail with the last cause (they ended as if closed by the program before)", () =>
    Effect.gen(function*() {
      // First connection: CONNACK, SUBACK, then the broker goes away; every later connection is closed at once.
      const firstConnection = FakeScripts.connackThenEach((conn, subscribe) =>
        Effect.gen(function*() {
          yield* conn.write(subackFor(subscribe))
          yield* Effect.sleep("100 millis")
          return "close" as const
        })
      )
      const broker = yield* FakeBroker.start((conn) => conn.index > 1 ? conn.close : firstConnection(conn))
      const reconnect = Schedule.max([Schedule.spaced("50 millis"), Schedule.recurs(2)])
      yield* withClient(broker.url, { reconnect, connectTimeout: "3 seconds" }, (mqtt) =>
        Effect.gen(function*() {
          const held = yield* mqtt.subscription("gone/#", { qos: 1 })
          const exit = yield* held.messages.pipe(Stream.runDrain, Effect.exit, Effect.timeout("10 seconds"))
          assert.isTrue(Exit.isFailure(exit), "the stream failed")
          if (Exit.isFailure(exit)) {
            const error = Cause.squash(exit.cause)
            assert.include(["ConnectError", "ConnectionLost", "ProtocolError"], (error as { readonly _tag?: string })._tag)
          }
          assert.strictEqual(broker.connectionCount(), 3, "the first connection and 2 reconnects")
        }).pipe(Effect.scoped))
    }))

  it.live("closing the client ends its streams without an error", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const scope = yield* Scope.make()
      const mqtt = yield* client(broker.url).pipe(Scope.provide(scope))
      const held = yield* mqtt.subscription("x/#").pipe(Scope.provide(scope))
      const drained = yield* held.messages.pipe(Stream.runDrain, Effect.exit, Effect.forkChild)
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.join(drained).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(Exit.isSuccess(exit))
    }))
})

/** The client id of a CONNECT packet (MQTT 3.1.1: "MQTT", level, flags, keep-alive, then the id). */
const connectClientId = (packet: Uint8Array): string => {
  let i = 1
  while (((packet[i] as number) & 0x80) !== 0) i++
  const start = i + 1 + 10
  const length = ((packet[start] as number) << 8) | (packet[start + 1] as number)
  return new TextDecoder().decode(packet.subarray(start + 2, start + 2 + length))
}

describe("a SUBSCRIBE answered by closing the connection (RabbitMQ 3.10 cluster, the id's queue on a dead node)", () => {
  /** Closes the connection on the first `refusals` connections' SUBSCRIBE, answers it later; records the ids. */
  const broker = (refusals: number, ids: Array<string>) =>
    FakeBroker.start(FakeScripts.connackThenEach(
      (conn, packet) =>
        Effect.gen(function*() {
          if (!isSubscribe(packet)) return
          if (conn.index <= refusals) return "close"
          yield* conn.write(subackFor(packet))
        }),
      { onConnect: (connect) => ids.push(connectClientId(connect)) }
    ))

  it.live("a clean session with a generated client id takes a fresh id, and the subscription goes through", () =>
    Effect.gen(function*() {
      const ids: Array<string> = []
      const fake = yield* broker(2, ids)
      yield* withClient(fake.url, fast, (mqtt) =>
        Effect.gen(function*() {
          const held = yield* mqtt.subscription("jobs/#", { qos: 1 }).pipe(Effect.timeout("10 seconds"))
          assert.deepStrictEqual(held.granted, [1])
        }).pipe(Effect.scoped))
      assert.strictEqual(ids.length, 3)
      assert.strictEqual(new Set(ids).size, 3, `a fresh id per refused connection: ${ids.join(", ")}`)
      for (const id of ids) assert.match(id, /^aimeqtt_[0-9a-f]+$/)
    }))

  it.live("a client id the user chose is kept (the broker decides; the schedule's limit holds)", () =>
    Effect.gen(function*() {
      const ids: Array<string> = []
      const fake = yield* broker(2, ids)
      yield* withClient(fake.url, { ...fast, clientId: "meter-17" }, (mqtt) =>
        Effect.gen(function*() {
          yield* mqtt.subscription("jobs/#", { qos: 1 }).pipe(Effect.timeout("10 seconds"))
        }).pipe(Effect.scoped))
      assert.deepStrictEqual(ids, ["meter-17", "meter-17", "meter-17"])
    }))
})
