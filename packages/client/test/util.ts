/**
 * Small shared helpers for the client's integration tests.
 */
import { type ClientOptions, type ConnectionStatus, MqttClient } from "@aimeqtt/client"
import { Decoder, type Packet } from "@aimeqtt/codec"
import { type Cause, Context, type Duration, Effect, Fiber, Layer, Option, type Scope, Stream, SubscriptionRef } from "effect"
import * as Net from "node:net"
import { HOST, listen } from "./brokers/internal.ts"

/** Builds the client layer in the current scope and returns the service. */
export const client = (url: string, options: ClientOptions = {}) =>
  Layer.build(MqttClient.layer({ url, connectTimeout: "5 seconds", ...options })).pipe(
    Effect.map((context) => Context.get(context, MqttClient))
  )

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
