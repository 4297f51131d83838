/**
 * QoS 2 across a broker restart, with the session kept on disk.   npx -y pnpm@10 example:reliability
 *
 * One client (persistent session, `FileSessionStore`) subscribes to `reliability/#` at QoS 2 and
 * publishes messages 1-3. Then the broker stops; messages 4-6 are published while it is down (they
 * wait in the client's offline queue) and the broker starts again on the same port. The client
 * reconnects, restores its subscription (a fresh embedded broker lost every session) before it sends
 * the queued messages (on one connection, in that order), and each of the six messages arrives exactly
 * once. The session file holds the QoS 1/2 flows in flight, so a crashed process restarted with the
 * same client id and directory finishes them; at the end it is empty.
 *
 * Without MQTT_URL an embedded aedes broker is used, and stopped and started by the example. With
 * MQTT_URL the example cannot stop your broker: it runs the same steps with a 10 s pause instead,
 * during which you can restart the broker yourself.
 */
import { FileSessionStore, MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Exit, Fiber, Layer, Schedule, Scope, Stream, SubscriptionRef } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { embeddedBroker } from "./broker.ts"
import { describeStatus } from "./status.ts"

const TOTAL = 6
const clientId = "aimeqtt-reliability-example"

Effect.gen(function*() {
  const storeDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-reliability-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(storeDir, { recursive: true, force: true })))
  const sessionFile = Path.join(storeDir, FileSessionStore.fileName(clientId))
  /** Replays the session file (an append-only log of changes): flows still in flight, out and in. */
  const pendingFlows = () => {
    const outgoing = new Set<number>()
    const incoming = new Set<number>()
    for (const text of Fs.readFileSync(sessionFile, "utf8").split("\n")) {
      if (text === "") continue
      const line = JSON.parse(text) as { op: string; id?: number }
      if (line.op === "put" && line.id !== undefined) outgoing.add(line.id)
      if (line.op === "del" && line.id !== undefined) outgoing.delete(line.id)
      if (line.op === "in" && line.id !== undefined) incoming.add(line.id)
      if (line.op === "rel" && line.id !== undefined) incoming.delete(line.id)
      if (line.op === "clear-in") incoming.clear()
    }
    return `${outgoing.size} outgoing, ${incoming.size} incoming`
  }

  // The broker: MQTT_URL, or an embedded one we can stop and start again on the same port.
  const external = process.env.MQTT_URL
  const firstBrokerScope = yield* Scope.make()
  const broker = external !== undefined && external !== ""
    ? undefined
    : yield* embeddedBroker().pipe(Scope.provide(firstBrokerScope))
  const url = broker?.url ?? (external as string)
  yield* Console.log(broker === undefined ? `using MQTT_URL=${url}` : `started an embedded aedes broker at ${url}`)

  const session = Effect.gen(function*() {
    const mqtt = yield* MqttClient
    yield* SubscriptionRef.changes(mqtt.status).pipe(
      Stream.runForEach((status) => Console.log(`  status: ${describeStatus(status)}`)),
      Effect.forkScoped({ startImmediately: true })
    )
    const received = new Map<string, number>()
    const subscription = yield* mqtt.subscription("reliability/#", { qos: 2 })
    yield* subscription.messages.pipe(
      Stream.runForEach((message) =>
        Effect.gen(function*() {
          received.set(message.text, (received.get(message.text) ?? 0) + 1)
          yield* Console.log(`  received ${message.topic} "${message.text}" (QoS ${message.qos}${message.dup ? ", dup" : ""})`)
        })
      ),
      Effect.forkScoped({ startImmediately: true })
    )
    const publish = (n: number) =>
      mqtt.publish(`reliability/${n}`, `message ${n}`, { qos: 2 }).pipe(
        Effect.timeout("30 seconds"),
        Effect.tap(() => Console.log(`  published message ${n} (PUBCOMP received)`))
      )
    const waitFor = (count: number) =>
      Effect.sync(() => received.size >= count).pipe(
        Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("30 seconds")
      )

    yield* Console.log("-- 1. publishing messages 1-3")
    for (const n of [1, 2, 3]) yield* publish(n)
    yield* waitFor(3)

    if (broker !== undefined) {
      yield* Console.log("-- 2. stopping the broker")
      yield* Scope.close(firstBrokerScope, Exit.void)
    } else {
      yield* Console.log("-- 2. (MQTT_URL set) restart your broker now if you want to see the reconnect")
    }
    yield* Console.log(`   flows in flight in the session file: ${pendingFlows()}`)
    yield* Console.log("-- 3. publishing messages 4-6 while it is down: they wait in the offline queue")
    const later = yield* Effect.forEach([4, 5, 6], publish, { discard: true }).pipe(Effect.forkScoped({ startImmediately: true }))
    yield* Effect.sleep(broker === undefined ? "10 seconds" : "1500 millis")
    if (broker !== undefined) {
      yield* Console.log(`-- 4. starting the broker again on port ${broker.port}`)
      yield* embeddedBroker({ port: broker.port })
    }
    yield* Fiber.join(later)
    yield* waitFor(TOTAL)
    yield* Effect.sleep("500 millis") // room for a late duplicate

    const counts = Array.from({ length: TOTAL }, (_, i) => received.get(`message ${i + 1}`) ?? 0)
    yield* Console.log(`-- 5. deliveries per message: ${counts.map((c, i) => `${i + 1}:${c}`).join(" ")}`)
    yield* Console.log(`   flows left in the session file ${sessionFile}: ${pendingFlows()}`)
    if (counts.some((c) => c !== 1)) return yield* Effect.fail(new Error("a message was lost or delivered twice"))
    yield* Console.log("every message arrived exactly once")
  })

  yield* session.pipe(
    Effect.provide(
      MqttClient.layer({
        url,
        clientId,
        cleanSession: false, // keep the session (and the broker's copy of it) across reconnects
        keepAlive: 5,
        reconnect: Schedule.spaced("500 millis")
      }).pipe(Layer.provide(FileSessionStore.layer(storeDir)))
    )
  )
}).pipe(Effect.scoped, NodeRuntime.runMain)
