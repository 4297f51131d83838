import { FileSessionStore } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Queue, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { AedesBroker } from "./brokers/index.ts"
import { client, uniqueId } from "./util.ts"

describe("manual acknowledgement", () => {
  it.live("PUBACKs go out only after ack, in arrival order [MQTT-4.6.0-2]", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const acked: Array<unknown> = []
      broker.broker.on("ack", (packet) => acked.push(packet)) // aedes emits it when a client PUBACKs a delivery
      const mqtt = yield* client(broker.url)
      const inbox = yield* Queue.unbounded<{ topic: string; ack: Effect.Effect<void> }>()
      yield* mqtt.subscribe("jobs/#", { qos: 1, ack: "manual" }).pipe(
        Stream.runForEach((message) => Queue.offer(inbox, message)),
        Effect.forkScoped({ startImmediately: true })
      )
      yield* broker.awaitEvent((e) => e.startsWith("subscribe:") && e.includes("jobs/#"))
      yield* broker.publish("jobs/1", "first", { qos: 1 })
      yield* broker.publish("jobs/2", "second", { qos: 1 })
      const first = yield* Queue.take(inbox)
      const second = yield* Queue.take(inbox)
      assert.deepStrictEqual([first.topic, second.topic], ["jobs/1", "jobs/2"])
      yield* second.ack
      yield* Effect.sleep("200 millis")
      assert.strictEqual(acked.length, 0, "the second PUBACK must wait for the first")
      yield* first.ack
      yield* first.ack // idempotent
      yield* Effect.sleep("200 millis")
      assert.strictEqual(acked.length, 2)
    }))
})

describe("manual acknowledgement at QoS 0", () => {
  it.live("QoS 0 messages on a manual stream still carry an ack (a no-op)", () =>
    Effect.gen(function*() {
      const broker = yield* AedesBroker.start()
      const mqtt = yield* client(broker.url)
      const inbox = yield* Queue.unbounded<{ topic: string; qos: number; ack: Effect.Effect<void> }>()
      yield* mqtt.subscribe("q0/#", { qos: 0, ack: "manual" }).pipe(
        Stream.runForEach((message) => Queue.offer(inbox, message)),
        Effect.forkScoped({ startImmediately: true })
      )
      yield* broker.awaitEvent((e) => e.startsWith("subscribe:") && e.includes("q0/#"))
      yield* broker.publish("q0/a", "x", { qos: 0 })
      const message = yield* Queue.take(inbox)
      assert.strictEqual(message.qos, 0)
      assert.isTrue(Effect.isEffect(message.ack))
      yield* message.ack
    }))
})

describe("file session store", () => {
  it.live("stores in-flight QoS 1 publishes until acknowledged", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-store-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const broker = yield* AedesBroker.start()
      const clientId = uniqueId("store")
      const mqtt = yield* Layer.build(Layer.empty).pipe(Effect.andThen(client(broker.url, { clientId, cleanSession: false })), Effect.provide(FileSessionStore.layer(dir)))
      yield* mqtt.publish("stored/1", "x", { qos: 1 })
      const log = Fs.readFileSync(Path.join(dir, FileSessionStore.fileName(clientId)), "utf8").trim().split("\n")
      // put then del: the flow was stored before the PUBLISH went out, and forgotten after PUBACK.
      assert.deepStrictEqual(log.map((line) => (JSON.parse(line) as { op: string }).op), ["put", "del"])
    }))
})
