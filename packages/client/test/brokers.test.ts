/**
 * Tests of the broker test helpers themselves, against the real programs (mosquitto, aedes) and raw TCP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { appendLines, MAX_LOG_LINES } from "./brokers/internal.ts"
import * as Fs from "node:fs"
import * as Net from "node:net"
import {
  AedesBroker,
  BrokerError,
  connackBytes,
  CutProxy,
  FakeBroker,
  FakeScripts,
  describeMosquitto,
  Mosquitto,
  mosquittoPub,
  mosquittoSub
} from "./brokers/index.ts"

// ---------------------------------------------------------------------------------------------------------------
// A tiny raw MQTT client: hand-crafted packets over a plain socket.

const utf8 = (s: string): Array<number> => {
  const b = [...Buffer.from(s, "utf8")]
  return [b.length >> 8, b.length & 0xff, ...b]
}
const withLength = (first: number, body: ReadonlyArray<number>): Uint8Array => {
  const len: Array<number> = []
  let x = body.length
  do {
    let d = x % 128
    x = Math.floor(x / 128)
    if (x > 0) d |= 0x80
    len.push(d)
  } while (x > 0)
  return new Uint8Array([first, ...len, ...body])
}
const connectPacket = (o: { clientId: string; username?: string; password?: string; keepAlive?: number }) => {
  let flags = 0x02
  if (o.username !== undefined) flags |= 0x80
  if (o.password !== undefined) flags |= 0x40
  const ka = o.keepAlive ?? 30
  return withLength(0x10, [
    ...utf8("MQTT"),
    0x04,
    flags,
    ka >> 8,
    ka & 0xff,
    ...utf8(o.clientId),
    ...(o.username !== undefined ? utf8(o.username) : []),
    ...(o.password !== undefined ? utf8(o.password) : [])
  ])
}
const subscribePacket = (packetId: number, filter: string, qos: number) =>
  withLength(0x82, [packetId >> 8, packetId & 0xff, ...utf8(filter), qos])
const publishPacket = (topic: string, payload: string) => withLength(0x30, [...utf8(topic), ...Buffer.from(payload)])

interface RawClient {
  readonly write: (bytes: Uint8Array) => Effect.Effect<void>
  /** Waits for at least n bytes in total (from the start of the connection), or the close, or the timeout. */
  readonly waitBytes: (n: number, timeoutMs?: number) => Effect.Effect<Uint8Array>
  readonly waitClosed: (timeoutMs?: number) => Effect.Effect<boolean>
  readonly received: () => Uint8Array
  readonly isClosed: () => boolean
}

const rawClient = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket, BrokerError>((resume) => {
      const s = Net.createConnection({ host: "127.0.0.1", port })
      s.once("connect", () => resume(Effect.succeed(s)))
      s.once("error", (cause) => resume(Effect.fail(new BrokerError({ message: "raw connect failed", cause }))))
    }),
    (s) => Effect.sync(() => s.destroy())
  ).pipe(Effect.map((socket): RawClient => {
    let data = Buffer.alloc(0)
    let closed = false
    socket.on("data", (c: Buffer) => {
      data = Buffer.concat([data, c])
    })
    socket.on("close", () => {
      closed = true
    })
    socket.on("error", () => undefined)
    const poll = <A>(check: () => A | undefined, fallback: () => A, timeoutMs: number): Effect.Effect<A> =>
      Effect.gen(function*() {
        const deadline = Date.now() + timeoutMs
        while (Date.now() < deadline) {
          const v = check()
          if (v !== undefined) return v
          yield* Effect.sleep("5 millis")
        }
        return check() ?? fallback()
      })
    return {
      write: (bytes) =>
        Effect.callback<void>((resume) => {
          socket.write(bytes, () => resume(Effect.void))
        }),
      waitBytes: (n, timeoutMs = 2000) =>
        poll(() => (data.length >= n || closed ? new Uint8Array(data) : undefined), () => new Uint8Array(data), timeoutMs),
      waitClosed: (timeoutMs = 2000) => poll(() => (closed ? true : undefined), () => false, timeoutMs),
      received: () => new Uint8Array(data),
      isClosed: () => closed
    }
  }))

/** Raw CONNECT, returns the first 4 bytes answered (the CONNACK), or fewer if the connection closed. */
const rawConnect = (port: number, o: Parameters<typeof connectPacket>[0], timeoutMs = 2000) =>
  Effect.scoped(Effect.gen(function*() {
    const c = yield* rawClient(port)
    yield* c.write(connectPacket(o))
    return [...(yield* c.waitBytes(4, timeoutMs))]
  }))

const pidGone = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return false
  } catch {
    return true
  }
}

// ---------------------------------------------------------------------------------------------------------------

describeMosquitto("Mosquitto helper", () => {
  it.live("starts, accepts CONNECT, and a mosquitto_pub -> mosquitto_sub round trip works", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      assert.strictEqual(broker.url, `mqtt://127.0.0.1:${broker.port}`)
      assert.isTrue(yield* broker.alive)
      assert.deepStrictEqual(yield* rawConnect(broker.port, { clientId: "raw-1" }), [0x20, 0x02, 0x00, 0x00])
      const sub = yield* mosquittoSub({ port: broker.port, topic: "t/#", count: 2, qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "t/a", message: "hello", qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "t/b", message: "world" })
      assert.deepStrictEqual(yield* sub.lines, ["t/a hello", "t/b world"])
      assert.isTrue(broker.logText().includes("mosquitto version"))
    }))

  it.live("with users: wrong password and anonymous get CONNACK 5, right password works", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ users: { alice: "secret", bob: "hunter2" } })
      const pubErr = yield* Effect.flip(
        mosquittoPub({ port: broker.port, topic: "x", message: "m", username: "alice", password: "wrong" })
      )
      assert.strictEqual(pubErr.exitCode, 5)
      const subErr = yield* Effect.flip(Effect.scoped(mosquittoSub({ port: broker.port, topic: "x", count: 1 })))
      assert.strictEqual(subErr.exitCode, 5)
      assert.deepStrictEqual(
        yield* rawConnect(broker.port, { clientId: "c1", username: "alice", password: "nope" }),
        [0x20, 0x02, 0x00, 0x05]
      )
      assert.deepStrictEqual(
        yield* rawConnect(broker.port, { clientId: "c2", username: "bob", password: "hunter2" }),
        [0x20, 0x02, 0x00, 0x00]
      )
      const sub = yield* mosquittoSub({
        port: broker.port,
        topic: "x",
        count: 1,
        verbose: false,
        username: "alice",
        password: "secret"
      })
      yield* mosquittoPub({ port: broker.port, topic: "x", message: "ok", username: "bob", password: "hunter2" })
      assert.deepStrictEqual(yield* sub.lines, ["ok"])
    }))

  it.live("SIGKILL then restart on the same port; SIGSTOP freezes CONNACK until SIGCONT", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const pid1 = broker.pid
      yield* broker.kill("SIGKILL")
      assert.isFalse(yield* broker.alive)
      assert.isTrue(pidGone(pid1))
      assert.deepStrictEqual(yield* rawConnect(broker.port, { clientId: "dead" }, 300).pipe(
        Effect.catchTag("BrokerError", () => Effect.succeed("refused"))
      ), "refused")
      yield* broker.restart
      assert.notStrictEqual(broker.pid, pid1)
      assert.isTrue(yield* broker.alive)
      assert.deepStrictEqual(yield* rawConnect(broker.port, { clientId: "back" }), [0x20, 0x02, 0x00, 0x00])

      yield* broker.kill("SIGSTOP")
      yield* Effect.scoped(Effect.gen(function*() {
        const c = yield* rawClient(broker.port) // the kernel still accepts the TCP connection
        yield* c.write(connectPacket({ clientId: "frozen" }))
        assert.strictEqual((yield* c.waitBytes(4, 300)).length, 0)
        yield* broker.kill("SIGCONT")
        assert.deepStrictEqual([...(yield* c.waitBytes(4))], [0x20, 0x02, 0x00, 0x00])
      }))
    }))

  it.live("the process (also a restarted one) is gone and the temp dir removed after the scope closes", () =>
    Effect.gen(function*() {
      const [pid1, pid2, dir] = yield* Effect.scoped(Effect.gen(function*() {
        const broker = yield* Mosquitto.start({ persistence: true })
        const first = broker.pid
        yield* broker.restart // running one is stopped first
        assert.isTrue(pidGone(first))
        return [first, broker.pid, broker.dir] as const
      }))
      assert.isTrue(pidGone(pid1))
      assert.isTrue(pidGone(pid2))
      assert.isFalse(Fs.existsSync(dir))
    }))

  it.live("persistence with autosave keeps a retained message across SIGKILL", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ persistence: true })
      yield* mosquittoPub({ port: broker.port, topic: "keep", message: "me", qos: 1, retain: true })
      yield* Effect.sleep("300 millis") // autosave is a separate step after the change
      yield* broker.kill("SIGKILL")
      yield* broker.restart
      const sub = yield* mosquittoSub({ port: broker.port, topic: "keep", count: 1 })
      assert.deepStrictEqual(yield* sub.lines, ["keep me"])
    }))

  it.live("a port already in use fails with a clear error", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const err = yield* Effect.flip(Effect.scoped(Mosquitto.start({ port: broker.port, startTimeoutMs: 1000 })))
      assert.include(err.message, "Address already in use")
    }))
})

// ---------------------------------------------------------------------------------------------------------------

describe("AedesBroker helper", () => {
  it.live("answers a raw CONNECT with CONNACK 0 and records what it sees", () =>
    Effect.gen(function*() {
      const aedes = yield* AedesBroker.start()
      const c = yield* rawClient(aedes.port)
      yield* c.write(connectPacket({ clientId: "raw-a" }))
      assert.deepStrictEqual([...(yield* c.waitBytes(4))], [0x20, 0x02, 0x00, 0x00])
      yield* c.write(subscribePacket(7, "a/+", 1))
      assert.deepStrictEqual([...(yield* c.waitBytes(9))].slice(4), [0x90, 0x03, 0x00, 0x07, 0x01])
      yield* c.write(publishPacket("z/q", "hi"))
      const seen = yield* aedes.awaitPublish("z/q")
      assert.strictEqual(Buffer.from(seen.payload).toString(), "hi")
      assert.strictEqual(seen.clientId, "raw-a")
      yield* aedes.awaitEvent("subscribe:raw-a:a/+:1")
      yield* aedes.publish("a/b", "from broker", { qos: 0 })
      const bytes = yield* c.waitBytes(9 + 2 + 5 + 11)
      assert.strictEqual(Buffer.from(bytes.slice(9)).toString("latin1"), "0\x10\x00\x03a/bfrom broker")
      assert.strictEqual(aedes.connectionCount(), 1)
      assert.includeMembers([...aedes.events], ["client:raw-a", "connack:raw-a:0"])
    }))

  it.live("authenticate hook: false gives CONNACK 5, 4 gives CONNACK 4, true accepts", () =>
    Effect.gen(function*() {
      const aedes = yield* AedesBroker.start({
        authenticate: (user, pass) => user === "alice" ? (pass === "secret" ? true : 4) : false
      })
      assert.deepStrictEqual(yield* rawConnect(aedes.port, { clientId: "x1" }), [0x20, 0x02, 0x00, 0x05])
      assert.deepStrictEqual(
        yield* rawConnect(aedes.port, { clientId: "x2", username: "alice", password: "bad" }),
        [0x20, 0x02, 0x00, 0x04]
      )
      assert.deepStrictEqual(
        yield* rawConnect(aedes.port, { clientId: "x3", username: "alice", password: "secret" }),
        [0x20, 0x02, 0x00, 0x00]
      )
    }))

  it.live("authorizeSubscribe hook rejects with SUBACK 0x80; layer form works", () =>
    Effect.gen(function*() {
      const aedes = yield* AedesBroker
      const c = yield* rawClient(aedes.port)
      yield* c.write(connectPacket({ clientId: "s1" }))
      yield* c.waitBytes(4)
      yield* c.write(subscribePacket(1, "secret/#", 0))
      assert.deepStrictEqual([...(yield* c.waitBytes(9))].slice(4), [0x90, 0x03, 0x00, 0x01, 0x80])
    }).pipe(Effect.provide(AedesBroker.layer({ authorizeSubscribe: (f) => !f.startsWith("secret") }))))

  it.live("is closed with its scope (port no longer accepts connections)", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(Effect.gen(function*() {
        const aedes = yield* AedesBroker.start()
        const c = yield* rawClient(aedes.port)
        yield* c.write(connectPacket({ clientId: "bye" }))
        yield* c.waitBytes(4)
        return aedes.port
      }))
      const err = yield* Effect.flip(Effect.scoped(rawClient(port)))
      assert.strictEqual(err._tag, "BrokerError")
    }))
})

// ---------------------------------------------------------------------------------------------------------------

describe("CutProxy helper", () => {
  it.live("forwards both ways and counts bytes and connections", () =>
    Effect.gen(function*() {
      const aedes = yield* AedesBroker.start()
      const proxy = yield* CutProxy.start({ target: aedes.port })
      const connect = connectPacket({ clientId: "via-proxy" })
      assert.deepStrictEqual(yield* rawConnect(proxy.port, { clientId: "via-proxy" }), [0x20, 0x02, 0x00, 0x00])
      const stats = yield* proxy.stats
      assert.strictEqual(stats.connections, 1)
      assert.strictEqual(stats.bytesUp, connect.length)
      assert.strictEqual(stats.bytesDown, 4)
      yield* aedes.awaitEvent("client:via-proxy")
    }))

  it.live("cutAll closes current connections; refuse mode closes new ones", () =>
    Effect.gen(function*() {
      const aedes = yield* AedesBroker.start()
      const proxy = yield* CutProxy.start({ target: aedes.port })
      const c = yield* rawClient(proxy.port)
      yield* c.write(connectPacket({ clientId: "cut-me" }))
      yield* c.waitBytes(4)
      yield* proxy.cutAll
      assert.isTrue(yield* c.waitClosed())
      yield* aedes.awaitEvent("disconnect:cut-me")
      assert.strictEqual(proxy.statsNow().cuts, 1)
      yield* proxy.setMode("refuse")
      const c2 = yield* rawClient(proxy.port)
      assert.isTrue(yield* c2.waitClosed())
      yield* proxy.setMode("forward")
      assert.deepStrictEqual(yield* rawConnect(proxy.port, { clientId: "again" }), [0x20, 0x02, 0x00, 0x00])
    }))

  it.live("cutAfterBytes truncates mid-packet (down) and cuts", () =>
    Effect.gen(function*() {
      const aedes = yield* AedesBroker.start()
      const proxy = yield* CutProxy.start({ target: aedes.port })
      yield* proxy.cutAfterBytes(2, "down")
      const c = yield* rawClient(proxy.port)
      yield* c.write(connectPacket({ clientId: "half" }))
      assert.isTrue(yield* c.waitClosed())
      assert.deepStrictEqual([...c.received()], [0x20, 0x02])
      yield* proxy.clearCut
      assert.deepStrictEqual(yield* rawConnect(proxy.port, { clientId: "whole" }), [0x20, 0x02, 0x00, 0x00])
      // "up": the broker only gets part of the CONNECT
      yield* proxy.cutAfterBytes(3, "up")
      const c3 = yield* rawClient(proxy.port)
      yield* c3.write(connectPacket({ clientId: "short" }))
      assert.isTrue(yield* c3.waitClosed())
      assert.strictEqual(c3.received().length, 0)
    }))

  it.live("pause freezes forwarding without closing; resume delivers", () =>
    Effect.gen(function*() {
      const aedes = yield* AedesBroker.start()
      const proxy = yield* CutProxy.start({ target: aedes.port })
      const c = yield* rawClient(proxy.port)
      yield* Effect.sleep("50 millis") // let the upstream connection open
      yield* proxy.pause
      yield* c.write(connectPacket({ clientId: "frozen" }))
      assert.strictEqual((yield* c.waitBytes(4, 300)).length, 0)
      assert.isFalse(c.isClosed())
      yield* proxy.resume
      assert.deepStrictEqual([...(yield* c.waitBytes(4))], [0x20, 0x02, 0x00, 0x00])
    }))
})

// ---------------------------------------------------------------------------------------------------------------

describe("FakeBroker helper", () => {
  it.live("connack script: reads the CONNECT, answers CONNACK with session present", () =>
    Effect.gen(function*() {
      const fake = yield* FakeBroker.start(FakeScripts.connack(0, true))
      assert.deepStrictEqual(yield* rawConnect(fake.port, { clientId: "f1" }), [0x20, 0x02, 0x01, 0x00])
      assert.deepStrictEqual([...connackBytes(5)], [0x20, 0x02, 0x00, 0x05])
      assert.strictEqual(fake.connectionCount(), 1)
      assert.deepStrictEqual(fake.failures, [])
    }))

  it.live("connackThenGarbage sends CONNACK 0 then the garbage bytes", () =>
    Effect.gen(function*() {
      const fake = yield* FakeBroker.start(FakeScripts.connackThenGarbage(new Uint8Array([0xf0, 0x01, 0x02])))
      const c = yield* rawClient(fake.port)
      yield* c.write(connectPacket({ clientId: "g" }))
      assert.deepStrictEqual([...(yield* c.waitBytes(7))], [0x20, 0x02, 0x00, 0x00, 0xf0, 0x01, 0x02])
    }))

  it.live("custom scripts see the exact bytes; connections are counted; failures recorded", () =>
    Effect.gen(function*() {
      const packets: Array<Array<number>> = []
      const fake = yield* FakeBroker.start((conn) =>
        Effect.gen(function*() {
          const p = yield* conn.readPacket
          packets.push([...p])
          if (conn.index === 3) return yield* Effect.fail("third connection fails on purpose")
          const more = yield* conn.readBytes(2)
          yield* conn.write([0xd0, 0x00, ...more])
          yield* conn.close
          yield* conn.awaitClose
        })
      )
      const connect = connectPacket({ clientId: "long-client-id-".repeat(10) }) // remaining length > 127
      for (let i = 1; i <= 3; i++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const c = yield* rawClient(fake.port)
          yield* c.write(connect)
          yield* c.write(new Uint8Array([0xc0, 0x00]))
          if (i < 3) assert.deepStrictEqual([...(yield* c.waitBytes(4))], [0xd0, 0x00, 0xc0, 0x00])
          assert.isTrue(yield* c.waitClosed())
        }))
      }
      yield* fake.awaitConnections(3)
      assert.strictEqual(fake.connectionCount(), 3)
      assert.deepStrictEqual(packets[0], [...connect])
      assert.deepStrictEqual(fake.failures, ["third connection fails on purpose"])
    }))
})

// The layer form can also be shared by a group of tests.
describe("AedesBroker as a shared layer", () => {
  it.layer(Layer.fresh(AedesBroker.layer()), { excludeTestServices: true })((it) => {
    it.effect("provides the handle", () =>
      Effect.gen(function*() {
        const aedes = yield* AedesBroker
        assert.deepStrictEqual(yield* rawConnect(aedes.port, { clientId: "layered" }), [0x20, 0x02, 0x00, 0x00])
      }))
  })
})

// Regression: mosquitto logging every packet of a 100k-message test made `logs.push(...lines)` overflow
// the call stack and filled the test's heap.
describe("log capture", () => {
  it("appends any number of lines and keeps only the newest", () => {
    const logs: Array<string> = []
    const lines = Array.from({ length: 300_000 }, (_, i) => `line ${i}`)
    appendLines(logs, lines)
    assert.isAtMost(logs.length, 2 * MAX_LOG_LINES)
    assert.strictEqual(logs[logs.length - 1], "line 299999")
  })
})
