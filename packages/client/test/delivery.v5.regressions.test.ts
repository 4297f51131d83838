/**
 * Regression tests for two MQTT 5.0 delivery bugs found while writing delivery.v5.test.ts (fixed in 709f466;
 * each test failed before). Against mosquitto 2.0.11.
 *
 * A. Flows resumed after a reconnect ignored the new connection's Receive Maximum: `Session.connected`
 *    re-sent every unfinished QoS 1/2 flow whatever their number and only then applied the window. When
 *    the broker's Receive Maximum is lower than the number of flows in flight (a broker restarted with a
 *    smaller `max_inflight_messages`, a failover to another broker), the client sends more QoS 2 PUBLISH
 *    than the broker allows [MQTT-3.3.4-7]; mosquitto answered those above its window with PUBREC 0x97
 *    (Quota exceeded) and the publishes failed with `PublishRejected`: messages lost for a limit the client
 *    knew from CONNACK. Both with the session lost (sessionPresent false: PUBLISH re-sent as new) and with
 *    the session present (PUBLISH re-sent with DUP).
 *
 * B. Subscription Identifiers of a restored session were taken for the new process's own. The client
 *    numbered identifiers from 1 in every process; the broker keeps the old process's numbers on the
 *    subscriptions and on every message it queued for the session. When the new process subscribes in
 *    another order (or to another set of filters), an old number names another filter now, and
 *    `Subscriptions.#streamsByIdentifier` found a known identifier whose filters did not match the topic:
 *    the message went to no stream, acknowledged (PUBACK) and parked in the unmatched buffer while the
 *    stream that matched it was open: never delivered. Now identifiers start at a random number, and one
 *    that names no filter matching the topic falls back to the topic.
 */
import type { Message } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Schedule, Scope, Stream } from "effect"
import * as Fs from "node:fs"
import { MqttClient } from "@aimeqtt/client"
import { CutProxy, describeMosquitto, Mosquitto } from "./brokers/index.ts"
import { client, range, uniqueId, waitUntil } from "./util.ts"

const persistentV5 = { protocolVersion: 5, cleanSession: false, sessionExpiryInterval: 300 } as const

describeMosquitto("MQTT 5.0 delivery regressions (mosquitto)", () => {
  /**
   * 20 QoS 2 publishes in flight (the broker's default window), then the broker comes back with
   * `max_inflight_messages 2`: the client must keep at most 2 in flight, and every publish must succeed.
   */
  const loweredWindow = (sessionPresent: boolean) =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ persistence: sessionPresent })
      // session present: the proxy black-holes the connection after the first PUBLISH, so the broker never sees
      // the other 19 and the client re-sends them (DUP) on the resumed session
      const proxy = yield* CutProxy.start({ target: broker.port })
      const wire: Array<string> = []
      const inflight = new Set<number>()
      let sent = 0
      let most = 0
      const pub = yield* client(proxy.url, {
        ...persistentV5,
        clientId: uniqueId("window"),
        reconnect: Schedule.spaced("100 millis"),
        connectionLossLogLevel: "None",
        onPacket: ({ direction, packet }) =>
          Effect.sync(() => {
            if (packet._tag === "Connack") {
              const rm = "properties" in packet ? packet.properties?.receiveMaximum : undefined
              wire.push(`CONNACK sessionPresent=${packet.sessionPresent} receiveMaximum=${String(rm)}`)
              inflight.clear()
              most = 0
            } else if (direction === "sent" && packet._tag === "Publish" && packet.packetId !== undefined) {
              sent += 1
              inflight.add(packet.packetId)
              most = Math.max(most, inflight.size)
              wire.push(`> PUBLISH #${packet.packetId}${packet.dup ? " dup" : ""}`)
            } else if (direction === "received" && (packet._tag === "Pubrec" || packet._tag === "Pubcomp")) {
              const code = "reasonCode" in packet ? packet.reasonCode : 0
              wire.push(`< ${packet._tag.toUpperCase()} #${packet.packetId} 0x${code.toString(16)}`)
              if (packet._tag === "Pubcomp" || code >= 0x80) inflight.delete(packet.packetId)
            }
          })
      })
      if (sessionPresent) yield* proxy.cutAfterPacket({ type: "PUBLISH", direction: "up", action: "blackhole" })
      else yield* broker.kill("SIGSTOP") // TCP still takes the bytes; nothing is answered
      const publishes = yield* Effect.forEach(range(20), (i) =>
        pub.publish("window/x", `${i}`, { qos: 2 }).pipe(Effect.timeout("15 seconds"), Effect.exit), {
        concurrency: "unbounded"
      }).pipe(Effect.forkScoped({ startImmediately: true }))
      yield* waitUntil(() => sent >= 20, 5000, () => `${sent} PUBLISH sent`)
      if (sessionPresent) {
        yield* Effect.sleep("200 millis") // the first PUBLISH is in the broker's session (autosave)
        yield* broker.kill("SIGTERM")
      } else {
        yield* broker.kill("SIGKILL")
      }
      Fs.writeFileSync(broker.configFile, `${broker.config}max_inflight_messages 2\n`)
      yield* broker.restart
      const outcomes = yield* Fiber.join(publishes)
      const failed = outcomes.flatMap((exit, i) => Exit.isFailure(exit) ? [`${i}: ${String(exit)}`] : [])
      const trace = wire.join("\n")
      assert.deepStrictEqual(failed, [], `every publish succeeds; wire:\n${trace}`)
      assert.isAtMost(most, 2, `in flight after the reconnect (Receive Maximum 2); wire:\n${trace}`)
    })

  it.live("A1. broker restarted (no persistence) with a smaller window: the 20 restarted QoS 2 flows keep to Receive Maximum 2, all succeed", () =>
    loweredWindow(false), 30_000)
  it.live("A2. broker restarted (persistence) with a smaller window: the 19 DUP re-sends keep to Receive Maximum 2, all succeed", () =>
    loweredWindow(true), 30_000)

  it.live("B. a restored session's messages tagged with the old process's subscription identifiers reach the open stream that matches them", () =>
    Effect.gen(function*() {
      const N = 500
      const broker = yield* Mosquitto.start({ extraConfig: "max_queued_messages 10000" })
      const clientId = uniqueId("sid")
      const options = { ...persistentV5, url: broker.url, clientId } as const
      // the first process: "a/#" gets identifier 1, "b/#" identifier 2; then it goes away (DISCONNECT)
      const first = yield* Scope.make()
      const old = yield* Layer.build(MqttClient.layer(options)).pipe(Effect.map((c) => Context.get(c, MqttClient)), Scope.provide(first))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* old.subscription("a/#", { qos: 1 })
        yield* old.subscription("b/#", { qos: 1 })
      }))
      yield* Scope.close(first, Exit.void)
      // queued for the session, each tagged with identifier 2 (the old "b/#")
      const pub = yield* client(broker.url, { protocolVersion: 5 })
      yield* Effect.forEach(range(N), (i) => pub.publish("b/x", `${i}`, { qos: 1 }), { concurrency: 20, discard: true })
      // the next process subscribes the other way round: "b/#" gets 1, "a/#" 2. receiveMaximum 1 spreads
      // the backlog over many round trips, so most of it comes after both SUBACKs
      const wire: Array<string> = []
      const ids = new Map<string, number>()
      let pubacks = 0
      const next = yield* client(broker.url, {
        ...options,
        receiveMaximum: 1,
        unmatchedBufferSize: 5000,
        onPacket: ({ direction, packet }) =>
          Effect.sync(() => {
            if (packet._tag === "Subscribe" && "properties" in packet) {
              wire.push(`> SUBSCRIBE ${packet.subscriptions.map((s) => s.filter).join(",")} identifier ${String(packet.properties?.subscriptionIdentifier)} (after ${pubacks} PUBACK)`)
            } else if (packet._tag === "Suback") {
              wire.push(`< SUBACK (after ${pubacks} PUBACK)`)
            } else if (direction === "received" && packet._tag === "Publish") {
              const key = `< PUBLISH ${packet.topic} subscriptionIdentifiers ${JSON.stringify("properties" in packet ? packet.properties?.subscriptionIdentifiers : undefined)}`
              ids.set(key, (ids.get(key) ?? 0) + 1)
            } else if (direction === "sent" && packet._tag === "Puback") {
              pubacks += 1
            }
          })
      })
      const got: Array<string> = []
      const b = yield* next.subscription("b/#", { qos: 1 })
      yield* b.messages.pipe(Stream.runForEach((m: Message) => Effect.sync(() => got.push(m.text))), Effect.forkScoped({ startImmediately: true }))
      yield* next.subscription("a/#", { qos: 1 })
      const arrived = yield* waitUntil(() => got.length >= N, 10_000).pipe(Effect.exit)
      const trace = [...wire, ...[...ids].map(([k, n]) => `${k} x${n}`), `${pubacks} PUBACK sent`].join("\n")
      assert.isTrue(Exit.isSuccess(arrived), `${got.length}/${N} messages reached the open "b/#" stream; wire:\n${trace}`)
    }), 30_000)
})
