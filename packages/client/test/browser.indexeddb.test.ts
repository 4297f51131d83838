/**
 * IndexedDbSessionStore in a real browser: `examples/browser-session` (bundled with esbuild for the
 * `browser` condition) runs in headless Chromium and publishes at QoS 1 and 2 with `cleanSession: false`,
 * a fixed client id and the IndexedDB store, through a WebSocket proxy to mosquitto's WebSocket listener.
 * The proxy swallows the broker's PUBACK, one PUBREC and every PUBCOMP, so the flows stop half way (a QoS 2
 * flow after PUBREC, at stage "released"); the page is reloaded; the new page finishes every flow from the
 * store: PUBLISH again with DUP, PUBREL for the released one. A Node subscriber (QoS 2) gets each QoS 2
 * message exactly once and the QoS 1 message at least once, and the store is empty at the end.
 *
 * Needs Debian's `chromium` and mosquitto: skipped with a loud warning without them, failing under `CI=true`.
 */
import { MqttClient } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Schedule, Stream } from "effect"
import type { Page } from "playwright-core"
import type { SessionApi } from "../../../examples/browser-session/api.ts"
import { BrokerError, freePort, Mosquitto } from "./brokers/index.ts"
import { describePackets, type ProxiedPacket, WsMqttProxy } from "./brokers/WsMqttProxy.ts"
import { awaitPageStatus, describeChromium, openExample } from "./browser/Chromium.ts"

const CLIENT_ID = "aimeqtt-reload-test"
const Q1 = "idb/qos1"
const Q2 = "idb/qos2"
const RELEASED = "idb/released"
const MARKER = "idb/marker"

const stored = (page: Page) =>
  Effect.promise(() => page.evaluate(() => (globalThis as unknown as { aimeqttSession: SessionApi }).aimeqttSession.stored()))

const on = (connection: number, direction: "up" | "down", tag: string, topic: string) => (p: ProxiedPacket) =>
  p.connection === connection && p.direction === direction && p.packet?._tag === tag && p.topic === topic

const reloadTests = () => {
  it.live("QoS 1/2 flows stopped before a page reload finish after it, from IndexedDB", () =>
    Effect.gen(function*() {
      const wsPort = yield* freePort
      const broker = yield* Mosquitto.start({ extraConfig: `listener ${wsPort} lo\nprotocol websockets` })
      const proxy = yield* WsMqttProxy.start({ target: wsPort })

      // the Node subscriber, over TCP straight to mosquitto
      const subscriber = yield* Layer.build(MqttClient.layer({ url: broker.url, clientId: "idb-subscriber" })).pipe(
        Effect.map((ctx) => Context.get(ctx, MqttClient))
      )
      const received: Array<string> = []
      const markerSeen = yield* Deferred.make<void>()
      const subscription = yield* subscriber.subscription("idb/#", { qos: 2 })
      yield* subscription.messages.pipe(
        Stream.runForEach((message) =>
          Effect.andThen(
            Effect.sync(() => received.push(message.topic)),
            message.topic === MARKER ? Deferred.succeed(markerSeen, undefined) : Effect.void
          )
        ),
        Effect.forkScoped({ startImmediately: true })
      )

      // first load: the broker's PUBACK, the PUBREC of Q2 and every PUBCOMP never reach the page
      yield* proxy.swallow((p) =>
        p.direction === "down" &&
        (p.packet?._tag === "Puback" || p.packet?._tag === "Pubcomp" || (p.packet?._tag === "Pubrec" && p.topic === Q2))
      )
      const { page, errors: pageErrors } = yield* openExample("browser-session", { url: proxy.url, clientId: CLIENT_ID })
      yield* awaitPageStatus(page, "connected", pageErrors)
      assert.deepStrictEqual(yield* stored(page), { outgoing: [], incoming: [] })

      yield* Effect.promise(() =>
        page.evaluate(([q1, q2, released]) => {
          const session = (globalThis as unknown as { aimeqttSession: SessionApi }).aimeqttSession
          // not awaited: these never complete on this page
          void session.publish(q1, "one", 1)
          void session.publish(q2, "two", 2)
          void session.publish(released, "three", 2)
        }, [Q1, Q2, RELEASED] as const)
      )
      yield* proxy.waitFor("flows stopped half way", (packets) =>
        [
          on(1, "down", "Puback", Q1),
          on(1, "down", "Pubrec", Q2),
          on(1, "up", "Pubrel", RELEASED),
          on(1, "down", "Pubcomp", RELEASED)
        ].every((seen) => packets.some(seen)))
      // each packet went out after its change committed: the store holds the three flows, in order of first store
      const before = yield* stored(page)
      assert.notStrictEqual(typeof before, "string", String(before))
      if (typeof before === "string") return
      assert.deepStrictEqual(
        before.outgoing.map(({ qos, stage, topic }) => ({ topic, qos, stage })),
        [{ topic: Q1, qos: 1, stage: "sent" }, { topic: Q2, qos: 2, stage: "sent" }, {
          topic: RELEASED,
          qos: 2,
          stage: "released"
        }]
      )
      const ids = new Map(before.outgoing.map((f) => [f.topic, f.packetId]))

      // reload: the new page resumes the session of the store; the proxy forwards everything now
      yield* proxy.swallow(undefined)
      yield* Effect.promise(() => page.reload())
      yield* awaitPageStatus(page, "connected", pageErrors)
      yield* proxy.waitFor("flows finished after the reload", (packets) =>
        [on(2, "down", "Puback", Q1), on(2, "down", "Pubcomp", Q2), on(2, "down", "Pubcomp", RELEASED)].every((seen) =>
          packets.some(seen)
        ))
      const second = proxy.packets().filter((p) => p.connection === 2 && p.direction === "up")
      const sent = (tag: string, topic: string) => second.filter((p) => p.packet?._tag === tag && p.topic === topic)
      const log = describePackets(proxy.packets())
      // sent flows: PUBLISH again, with DUP and the same packet id [MQTT-4.4.0-1]
      for (const topic of [Q1, Q2]) {
        const publishes = sent("Publish", topic)
        assert.strictEqual(publishes.length, 1, log)
        const packet = publishes[0]?.packet
        assert.isTrue(packet?._tag === "Publish" && packet.dup && packet.packetId === ids.get(topic), log)
      }
      // the released flow: PUBREL only, never its PUBLISH again
      assert.deepStrictEqual([sent("Publish", RELEASED).length, sent("Pubrel", RELEASED).length], [0, 1], log)

      // the page's store empties once each flow's completion committed
      const after = yield* stored(page).pipe(
        Effect.repeat({
          until: (s) => typeof s !== "string" && s.outgoing.length === 0,
          schedule: Schedule.spaced("100 millis")
        }),
        Effect.timeoutOrElse({
          duration: "10 seconds",
          orElse: () => Effect.fail(new BrokerError({ message: "the page's store did not empty after the reload" }))
        })
      )
      assert.deepStrictEqual(after, { outgoing: [], incoming: [] })

      // a last QoS 2 message from the page: mosquitto delivers in order, so once it arrived every earlier one did
      const marker = yield* Effect.promise(() =>
        page.evaluate((topic) => (globalThis as unknown as { aimeqttSession: SessionApi }).aimeqttSession.publish(topic, "end", 2), MARKER)
      )
      assert.strictEqual(marker, "done")
      yield* Deferred.await(markerSeen).pipe(Effect.timeout("10 seconds"))
      const count = (topic: string) => received.filter((t) => t === topic).length
      assert.isAtLeast(count(Q1), 1, received.join(", "))
      assert.deepStrictEqual([count(Q2), count(RELEASED), count(MARKER)], [1, 1, 1], received.join(", "))
      assert.deepStrictEqual(pageErrors, [])
    }), 90_000)
}

describeChromium("IndexedDbSessionStore in headless Chromium", reloadTests)
