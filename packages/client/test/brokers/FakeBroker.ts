/**
 * A scripted fake MQTT broker for protocol-violation tests: each accepted TCP connection runs a script that
 * reads raw bytes and writes whatever it wants (malformed packets, wrong CONNACKs, garbage, early closes).
 */
import { Cause, Effect, Exit, Fiber, Queue, type Scope } from "effect"
import * as Net from "node:net"
import { BrokerError, HOST, listen, Observed } from "./internal.ts"

/** CONNACK bytes `[0x20, 0x02, sessionPresent, returnCode]`. */
export const connackBytes = (returnCode: number, sessionPresent = false): Uint8Array =>
  new Uint8Array([0x20, 0x02, sessionPresent ? 1 : 0, returnCode & 0xff])

/** PINGRESP bytes `[0xd0, 0x00]`. */
export const pingrespBytes: Uint8Array = new Uint8Array([0xd0, 0x00])

/** SUBACK bytes for a packet id and the granted QoS / 0x80 per filter. */
export const subackBytes = (packetId: number, codes: ReadonlyArray<number>): Uint8Array =>
  new Uint8Array([0x90, 2 + codes.length, (packetId >> 8) & 0xff, packetId & 0xff, ...codes])

/** One client connection, as seen by a {@link FakeScript}. */
export interface FakeConnection {
  /** 1 for the first connection accepted by the fake broker, 2 for the next… */
  readonly index: number
  /** Next bytes received (whatever is buffered, at least 1 byte). Fails when the client closed first. */
  readonly read: Effect.Effect<Uint8Array, BrokerError>
  /** Exactly `n` bytes. Fails when the client closes before. */
  readonly readBytes: (n: number) => Effect.Effect<Uint8Array, BrokerError>
  /** One whole MQTT control packet (fixed header + remaining length + body). */
  readonly readPacket: Effect.Effect<Uint8Array, BrokerError>
  /** Writes raw bytes (flushed to the kernel when it succeeds). */
  readonly write: (bytes: Uint8Array | ReadonlyArray<number>) => Effect.Effect<void, BrokerError>
  /** Half-closes (FIN) the connection after what was written. */
  readonly close: Effect.Effect<void>
  /** Resets the connection (RST). */
  readonly destroy: Effect.Effect<void>
  /** Waits until the client has closed the connection (or it was destroyed). */
  readonly awaitClose: Effect.Effect<void>
  /** `true` once the connection is closed. */
  readonly isClosed: () => boolean
  /** Every byte received so far on this connection (consumed or not). */
  readonly received: () => Uint8Array
}

/**
 * Per-connection script. When it ends (success or failure) the connection is destroyed; end with
 * `conn.awaitClose` (or `Effect.never`) to keep it open. Failures are recorded in {@link FakeBrokerHandle.failures}.
 */
export type FakeScript = (conn: FakeConnection) => Effect.Effect<unknown, unknown>

/** A running fake broker, owned by a scope. */
export interface FakeBrokerHandle {
  readonly port: number
  readonly host: string
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string
  /** Connections accepted so far (to observe reconnects). */
  readonly connectionCount: () => number
  /** Waits (up to `timeoutMs`, default 5000) until at least `n` connections were accepted. */
  readonly awaitConnections: (n: number, timeoutMs?: number) => Effect.Effect<void, BrokerError>
  /** Script failures (the error values; defects as their `Cause` pretty string). */
  readonly failures: ReadonlyArray<unknown>
}

class ByteBuffer {
  private chunks: Array<Uint8Array> = []
  size = 0
  closed = false
  readonly all: Array<Uint8Array> = []
  private listeners = new Set<() => void>()

  push(chunk: Uint8Array) {
    this.chunks.push(chunk)
    this.all.push(chunk)
    this.size += chunk.length
    this.notify()
  }
  close() {
    this.closed = true
    this.notify()
  }
  private notify() {
    for (const l of [...this.listeners]) l()
  }
  take(n: number): Uint8Array {
    const out = new Uint8Array(n)
    let off = 0
    while (off < n) {
      const head = this.chunks[0]
      if (head === undefined) break
      const k = Math.min(n - off, head.length)
      out.set(head.subarray(0, k), off)
      off += k
      if (k === head.length) this.chunks.shift()
      else this.chunks[0] = head.subarray(k)
    }
    this.size -= off
    return out
  }
  /** Waits until `min` bytes are buffered then takes `max(min, all)` or exactly `exact`. */
  wait(min: number, exact: boolean): Effect.Effect<Uint8Array, BrokerError> {
    return Effect.callback<Uint8Array, BrokerError>((resume) => {
      const check = () => {
        if (this.size >= min) {
          this.listeners.delete(check)
          resume(Effect.succeed(this.take(exact ? min : this.size)))
        } else if (this.closed) {
          this.listeners.delete(check)
          resume(Effect.fail(new BrokerError({ message: `connection closed while waiting for ${min} bytes` })))
        }
      }
      this.listeners.add(check)
      check()
      return Effect.sync(() => this.listeners.delete(check))
    })
  }
  awaitClose(): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      const check = () => {
        if (this.closed) {
          this.listeners.delete(check)
          resume(Effect.void)
        }
      }
      this.listeners.add(check)
      check()
      return Effect.sync(() => this.listeners.delete(check))
    })
  }
}

const makeConnection = (socket: Net.Socket, index: number): FakeConnection => {
  const buffer = new ByteBuffer()
  socket.on("data", (chunk: Buffer) => buffer.push(new Uint8Array(chunk)))
  socket.on("close", () => buffer.close())
  socket.on("error", () => buffer.close())
  const readBytes = (n: number) => n <= 0 ? Effect.succeed(new Uint8Array(0)) : buffer.wait(n, true)
  return {
    index,
    read: buffer.wait(1, false),
    readBytes,
    readPacket: Effect.gen(function*() {
      const header: Array<number> = [...(yield* readBytes(1))]
      let remaining = 0
      let multiplier = 1
      for (let i = 0; i < 4; i++) {
        const b = (yield* readBytes(1))[0] ?? 0
        header.push(b)
        remaining += (b & 0x7f) * multiplier
        multiplier *= 128
        if ((b & 0x80) === 0) break
        if (i === 3) return yield* new BrokerError({ message: "malformed remaining length from the client" })
      }
      const body = yield* readBytes(remaining)
      const packet = new Uint8Array(header.length + body.length)
      packet.set(header, 0)
      packet.set(body, header.length)
      return packet
    }),
    write: (bytes) =>
      Effect.callback<void, BrokerError>((resume) => {
        if (socket.destroyed) {
          resume(Effect.fail(new BrokerError({ message: "write on a closed connection" })))
          return
        }
        socket.write(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), (error) =>
          resume(
            error === undefined || error === null
              ? Effect.void
              : Effect.fail(new BrokerError({ message: `write failed: ${error.message}`, cause: error }))
          ))
      }),
    close: Effect.sync(() => {
      socket.end()
    }),
    destroy: Effect.sync(() => {
      socket.resetAndDestroy()
    }),
    awaitClose: buffer.awaitClose(),
    isClosed: () => buffer.closed,
    received: () => {
      const out = new Uint8Array(buffer.all.reduce((n, c) => n + c.length, 0))
      let off = 0
      for (const c of buffer.all) {
        out.set(c, off)
        off += c.length
      }
      return out
    }
  }
}

const start = (
  script: FakeScript,
  options: { readonly port?: number } = {}
): Effect.Effect<FakeBrokerHandle, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const accepted = yield* Queue.unbounded<Net.Socket>()
    const counter = new Observed<number>()
    const failures: Array<unknown> = []

    const { port } = yield* listen(
      "fake broker",
      (socket) => {
        socket.on("error", () => undefined)
        Queue.offerUnsafe(accepted, socket)
      },
      { port: options.port }
    )

    const runOne = (socket: Net.Socket, index: number) =>
      Effect.suspend(() => script(makeConnection(socket, index))).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.sync(() => {
            if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) {
              const failure = Cause.findErrorOption(exit.cause)
              failures.push(failure._tag === "Some" ? failure.value : Cause.pretty(exit.cause))
            }
          })
        ),
        Effect.ensuring(Effect.sync(() => socket.destroy()))
      )

    const acceptLoop = Effect.gen(function*() {
      let index = 0
      while (true) {
        const socket = yield* Queue.take(accepted)
        index += 1
        counter.push(index)
        yield* Effect.forkIn(runOne(socket, index), scope)
      }
    })
    const loop = yield* Effect.forkIn(acceptLoop, scope)
    yield* Effect.addFinalizer(() => Fiber.interrupt(loop))

    const handle: FakeBrokerHandle = {
      port,
      host: HOST,
      url: `mqtt://${HOST}:${port}`,
      connectionCount: () => counter.items.length,
      awaitConnections: (n, timeoutMs = 5000) =>
        Effect.asVoid(counter.waitFor((i) => i >= n, timeoutMs, `${n} connection(s) to the fake broker`)),
      failures
    }
    return handle
  })

/**
 * What a {@link FakeScripts.connackThenEach} handler answers for a packet: nothing to go on with the next one, or
 * `"close"` to close the connection (FIN) and end the script.
 */
export type PacketStep = void | "close"

/** Canned scripts for {@link FakeBroker.start}. */
export const FakeScripts = {
  /** Reads the CONNECT, answers CONNACK `returnCode` (`sessionPresent`), then reads until the client closes. */
  connack: (returnCode = 0, sessionPresent = false): FakeScript => (conn) =>
    Effect.gen(function*() {
      yield* conn.readPacket
      yield* conn.write(connackBytes(returnCode, sessionPresent))
      yield* conn.awaitClose
    }),
  /** Reads the CONNECT, answers CONNACK 0, then sends `garbage` (default: reserved packet type 0 / 0xf0 bytes). */
  connackThenGarbage: (garbage: Uint8Array = new Uint8Array([0x00, 0x00, 0xf0, 0xff, 0xff, 0xff, 0xff])): FakeScript =>
  (conn) =>
    Effect.gen(function*() {
      yield* conn.readPacket
      yield* conn.write(connackBytes(0, false))
      yield* conn.write(garbage)
      yield* conn.awaitClose
    }),
  /**
   * Reads the CONNECT (handed to `onConnect`), answers CONNACK 0, then hands every packet the client sends to
   * `onPacket`, one at a time, until it answers `"close"`.
   */
  connackThenEach: (
    onPacket: (conn: FakeConnection, packet: Uint8Array) => Effect.Effect<PacketStep, unknown>,
    options: { readonly onConnect?: (connect: Uint8Array) => void } = {}
  ): FakeScript =>
  (conn) =>
    Effect.gen(function*() {
      const connect = yield* conn.readPacket
      options.onConnect?.(connect)
      yield* conn.write(connackBytes(0))
      while (true) {
        if ((yield* onPacket(conn, yield* conn.readPacket)) === "close") return yield* conn.close
      }
    }),
  /** Accepts the TCP connection and never answers (a broker that hangs before CONNACK). */
  silent: (): FakeScript => (conn) => conn.awaitClose,
  /** Closes the connection right after reading the CONNECT. */
  closeAfterConnect: (): FakeScript => (conn) => Effect.andThen(conn.readPacket, conn.close)
}

/** Scripted fake brokers. */
export const FakeBroker = {
  /**
   * Listens on 127.0.0.1 (ephemeral port) and runs `script` in its own fiber for every accepted connection.
   * On scope close: interrupts the scripts, destroys the sockets and closes the server.
   */
  start,
  /** Same as {@link FakeScripts}. */
  scripts: FakeScripts
}
