/**
 * Small shared helpers for the client's integration tests.
 */
import { type ClientOptions, type ConnectionStatus, type Message, MqttClient } from "@aimeqtt/client"
import { Decoder, type Packet, type ProtocolVersion } from "@aimeqtt/codec"
import { assert } from "@effect/vitest"
import { type Cause, Context, type Duration, Effect, Fiber, Layer, Option, Scope, Stream, SubscriptionRef } from "effect"
import * as Net from "node:net"
import * as FileSessionStore from "../src/FileSessionStore.ts"
import { HOST, listen, scopedTempDir } from "./brokers/internal.ts"

/** Builds the client layer in the current scope and returns the service. */
export const client = (url: string, options: ClientOptions = {}) =>
  Layer.build(MqttClient.layer({ url, connectTimeout: "5 seconds", ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

/** A fresh temp dir `$TMPDIR/PREFIX…`, removed with its contents when the scope closes (a failure to create it is a defect). */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  scopedTempDir(prefix, "test").pipe(Effect.orDie)

/** A fresh client id per test, so broker logs and events can be matched. */
export const uniqueId = (prefix: string): string => `${prefix}-${Math.random().toString(16).slice(2, 10)}`

/** Waits (real clock) until the status satisfies `predicate`; fails with TimeoutError after `timeout`. */
export const awaitStatus = (
  mqtt: MqttClient["Service"],
  predicate: (status: ConnectionStatus) => boolean,
  timeout: Duration.Input = "5 seconds"
): Effect.Effect<ConnectionStatus, Cause.TimeoutError | Error> =>
  SubscriptionRef.changes(mqtt.status).pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new Error("the status stream ended")),
      onSome: Effect.succeed
    })),
    Effect.timeout(timeout)
  )

/**
 * Records every status the client goes through from now on (the current one first), until the scope
 * closes. Returns the live list.
 */
export const recordStatus = (mqtt: MqttClient["Service"]): Effect.Effect<ReadonlyArray<ConnectionStatus>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const seen: Array<ConnectionStatus> = []
    yield* SubscriptionRef.changes(mqtt.status).pipe(
      Stream.runForEach((status) => Effect.sync(() => seen.push(status))),
      Effect.forkScoped({ startImmediately: true })
    )
    return seen
  })

/** Starts collecting `n` elements of a stream at once (so nothing published right after is missed). */
export const collect = <A, E>(stream: Stream.Stream<A, E>, n: number) =>
  stream.pipe(Stream.take(n), Stream.runCollect, Effect.forkScoped({ startImmediately: true }))

/** Joins a fiber, failing with a TimeoutError when it does not finish in time. */
export const joinWithin = <A, E>(fiber: Fiber.Fiber<A, E>, timeout: Duration.Input = "5 seconds") =>
  Fiber.join(fiber).pipe(Effect.timeout(timeout))

/** Polls (real clock, every 20 ms) until `done()`; fails with `describe()` after `timeoutMs`. */
export const waitUntil = (done: () => boolean, timeoutMs: number, describe: () => string = () => "the condition") =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!done()) {
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`timed out after ${timeoutMs} ms: ${describe()}`))
      yield* Effect.sleep("20 millis")
    }
  })

/** Milliseconds since an origin, on the real clock. */
export const stopwatch = () => {
  const t0 = Date.now()
  return () => Date.now() - t0
}

/** A packet a client sent, as seen on the wire by a {@link Tap}: `connection` counts from 1. */
export interface TappedPacket {
  readonly connection: number
  readonly packet: Packet
}

/** A TCP pass-through that decodes every packet the client sends upstream (in wire order). */
export interface TapHandle {
  readonly port: number
  readonly url: string
  /** Client → broker packets, in the order they were written (live array). */
  readonly upstream: ReadonlyArray<TappedPacket>
  /** A short description of each upstream packet, e.g. `Subscribe:s/#`, `Publish:q/1`, `Disconnect`. */
  readonly summary: () => ReadonlyArray<string>
}

const describePacket = (packet: Packet): string => {
  switch (packet._tag) {
    case "Publish":
      return `Publish:${packet.topic}`
    case "Subscribe":
      return `Subscribe:${packet.subscriptions.map((s) => s.filter).join(",")}`
    case "Unsubscribe":
      return `Unsubscribe:${packet.filters.join(",")}`
    default:
      return packet._tag
  }
}

/**
 * Starts a pass-through TCP proxy to 127.0.0.1:`target` that records (decodes) what the client sends.
 * Used to check ordering on the wire, because aedes handles the packets of one TCP chunk concurrently
 * (its events can come out of order).
 */
export const Tap = {
  start: (target: number): Effect.Effect<TapHandle, Error, Scope.Scope> =>
    Effect.gen(function*() {
      const upstream: Array<TappedPacket> = []
      let connections = 0
      const { port } = yield* listen("tap", (client) => {
        const index = ++connections
        const decoder = Decoder.make()
        const broker = Net.createConnection({ host: HOST, port: target })
        client.on("data", (chunk: Buffer) => {
          const packets = decoder.push(new Uint8Array(chunk))
          if (Array.isArray(packets)) for (const packet of packets) upstream.push({ connection: index, packet })
          broker.write(chunk)
        })
        broker.on("data", (chunk: Buffer) => client.write(chunk))
        const close = () => {
          client.destroy()
          broker.destroy()
        }
        for (const s of [client, broker]) {
          s.on("close", close)
          s.on("error", close)
        }
      })
      return {
        port,
        url: `mqtt://127.0.0.1:${port}`,
        upstream,
        summary: () => upstream.map((p) => describePacket(p.packet))
      }
    })
}

/** The status, which must be `Connected` (the assertion fails otherwise). */
export const connected = (status: ConnectionStatus) => {
  assert.strictEqual(status._tag, "Connected")
  return status._tag === "Connected" ? status : (undefined as never)
}

/** The client's current status, which must be `Connected`. */
export const statusOf = (mqtt: MqttClient["Service"]) => Effect.map(SubscriptionRef.get(mqtt.status), connected)

/** A packet a client sent or received, as its `onPacket` option saw it, with when (real clock, ms). */
export interface WireEvent {
  readonly direction: "sent" | "received"
  readonly packet: Packet<ProtocolVersion>
  readonly at: number
}

/** Records every packet of a client in wire order: pass `onPacket` to its options. */
export const wireLog = () => {
  const events: Array<WireEvent> = []
  return {
    events,
    onPacket: (event: Omit<WireEvent, "at">) => Effect.sync(() => void events.push({ ...event, at: Date.now() })),
    /** The tags of the packets sent or received, in order. */
    tags: (direction: WireEvent["direction"]) => events.filter((e) => e.direction === direction).map((e) => e.packet._tag),
    /** The PUBLISH packets the client received, in order. */
    received: () => events.flatMap((e) => (e.direction === "received" && e.packet._tag === "Publish" ? [e.packet] : [])),
    count: (direction: WireEvent["direction"], tag: Packet<ProtocolVersion>["_tag"]) =>
      events.filter((e) => e.direction === direction && e.packet._tag === tag).length,
    /** `0 ms sent Connect; 3 ms received Connack; ...`, for assertion messages. */
    timeline: () => {
      const t0 = events[0]?.at ?? 0
      return events.map((e) =>
        `${e.at - t0} ms ${e.direction} ${e.packet._tag}${e.packet._tag === "Publish" ? ` id=${String(e.packet.packetId)} dup=${String(e.packet.dup)}` : ""}`
      ).join("; ")
    }
  }
}

/** A received message, copied out of the read buffer. */
export interface Got {
  readonly topic: string
  readonly text: string
  readonly qos: number
  readonly dup: boolean
}

/** Records every element of the stream into a live array, from now until the scope closes. */
export const record = <E>(stream: Stream.Stream<Message, E>) =>
  Effect.gen(function*() {
    const got: Array<Got> = []
    yield* stream.pipe(
      Stream.runForEach((m) => Effect.sync(() => got.push({ topic: m.topic, text: m.text, qos: m.qos, dup: m.dup }))),
      Effect.forkScoped({ startImmediately: true })
    )
    return got
  })

/**
 * Builds a client layer in the given scope, so the test can close it early (DISCONNECT, or a crash when the
 * session store is on disk); `storeDir` gives it a file session store there.
 */
export const clientIn = (scope: Scope.Scope, options: ClientOptions, storeDir?: string) => {
  const base = MqttClient.layer({ connectTimeout: "5 seconds", ...options })
  const layer = storeDir === undefined ? base : base.pipe(Layer.provide(FileSessionStore.layer(storeDir)))
  return Layer.build(layer).pipe(Effect.map((context) => Context.get(context, MqttClient)), Scope.provide(scope))
}

/** Per topic, the sequence numbers received, in arrival order. Payloads are `"<seq>"`. */
export const byTopic = (got: ReadonlyArray<Got>): Map<string, Array<number>> => {
  const map = new Map<string, Array<number>>()
  for (const g of got) {
    let list = map.get(g.topic)
    if (list === undefined) map.set(g.topic, list = [])
    list.push(Number(g.text))
  }
  return map
}

/** `[0, 1, ..., n - 1]`. */
export const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)
