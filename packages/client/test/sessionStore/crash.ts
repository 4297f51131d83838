/**
 * The client crash a durable session store must carry a QoS 2 flow through, with a real client and
 * mosquitto: the flow is black-holed (`CutProxy`) right after one step of its handshake, the client is
 * closed while the publish is pending (the "crash"), and a new client with the same client id over the
 * same store finishes it: the message is delivered once, and the store is empty afterwards.
 * `delivery.test.ts` runs it on the file store, `sqlite.test.ts` on the SQLite store.
 */
import type { ClientOptions, MqttClient } from "@aimeqtt/client"
import { assert } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { CutProxy, type CutDirection, Mosquitto, type PacketTypeName } from "../brokers/index.ts"
import { client, record, uniqueId, waitUntil } from "../util.ts"

/** Where the flow is cut, and the stage the store then holds it at. */
export const crashSteps: ReadonlyArray<readonly [PacketTypeName, CutDirection, "sent" | "released"]> = [
  ["PUBLISH", "up", "sent"], // the broker has the message, its PUBREC never arrives
  ["PUBREC", "down", "released"], // we have PUBREC, our PUBREL never arrives
  ["PUBREL", "up", "released"] // the broker released the message, its PUBCOMP never arrives
]

/** The store under test, as the scenario uses it. */
export interface CrashStore {
  /** Builds, in `scope`, a client with `options` (URL, client id, `cleanSession: false`) over the store. */
  readonly build: (
    scope: Scope.Scope,
    options: ClientOptions & { readonly url: string; readonly clientId: string }
  ) => Effect.Effect<MqttClient["Service"], unknown>
  /** Asserts that the store holds the client's flow of `topic` at `stage`. */
  readonly assertStored: (clientId: string, topic: string, stage: "sent" | "released") => Effect.Effect<void, unknown>
  /** Asserts that the store holds nothing of the client any more. */
  readonly assertEmpty: (clientId: string) => Effect.Effect<void, unknown>
}

/**
 * Runs the scenario for one step of `crashSteps`; topics and client ids start with `name`. Succeeds with
 * how often `"once"` was delivered before the crash and after the restart.
 */
export const crashThenFinish = (
  name: string,
  [type, direction, stage]: readonly [PacketTypeName, CutDirection, "sent" | "released"],
  store: CrashStore
): Effect.Effect<{ readonly beforeCrash: number; readonly afterRestart: number }, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const broker = yield* Mosquitto.start()
    const proxy = yield* CutProxy.start({ target: broker.port })
    const sub = yield* client(broker.url, { clientId: uniqueId(`${name}-sub`) })
    const subscription = yield* sub.subscription(`${name}/#`, { qos: 2 })
    const got = yield* record(subscription.messages)
    const topic = `${name}/a`
    const options = { url: proxy.url, clientId: uniqueId(`${name}-pub`), cleanSession: false } as const

    const first = yield* Scope.make()
    const pub1 = yield* store.build(first, options)
    yield* proxy.cutAfterPacket({ type, direction, action: "blackhole" })
    const pending = yield* pub1.publish(topic, "once", { qos: 2 }).pipe(Effect.exit, Effect.forkChild({ startImmediately: true }))
    yield* waitUntil(() => proxy.statsNow().packetCuts === 1, 5000, () => JSON.stringify(proxy.statsNow()))
    yield* Effect.sleep("100 millis")
    // the flow is in the store at the stage it reached
    yield* store.assertStored(options.clientId, topic, stage)
    assert.isUndefined(pending.pollUnsafe(), "the publish is still pending")
    const beforeCrash = got.length
    // "crash": the client's scope closes while the flow is pending (its goodbye goes into the black hole)
    yield* Scope.close(first, Exit.void)
    const exit = yield* Fiber.join(pending).pipe(Effect.timeout("5 seconds"))
    assert.isTrue(Exit.isFailure(exit), "the pending publish failed when its client closed")

    // a new process: same client id, same store, clean network
    const second = yield* Scope.make()
    const pub2 = yield* store.build(second, options)
    yield* waitUntil(() => got.length >= 1, 5000, () => `nothing delivered; broker log:\n${broker.logText()}`)
    yield* pub2.publish(topic, "after", { qos: 2 }).pipe(Effect.timeout("5 seconds"))
    yield* waitUntil(() => got.some((g) => g.text === "after"), 5000, () => JSON.stringify(got))
    yield* Effect.sleep("300 millis")
    assert.deepStrictEqual(got.map((g) => g.text), ["once", "after"])
    // the finished flow is gone from the store
    yield* Scope.close(second, Exit.void)
    yield* store.assertEmpty(options.clientId)
    return { beforeCrash, afterRestart: got.filter((g) => g.text === "once").length - beforeCrash }
  })
