/**
 * Issue 17: failover across a real broker cluster. Three RabbitMQ 3.10 nodes on loopback, started once for
 * the file (~20-40 s); clients get `urls: [node1, node2, node3]` (or a rotation of it) and a clean session.
 * Node 1 is killed with SIGKILL under a steady stream of QoS 1 publishes, then restarted. After the file, no
 * process of the cluster is left.
 *
 * Every wait is on an event (a completed publish, a received message, a status), bounded; never on a count
 * within a fixed time.
 */
import type { ConnectionStatus, MqttClient } from "@aimeqtt/client"
import { afterAll, assert, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schedule, Stream, SubscriptionRef } from "effect"
import { describeRabbitMQ, processesAlive, RabbitMQCluster, type RabbitMQClusterHandle } from "./brokers/index.ts"
import { awaitStatus, client, collect, joinWithin, uniqueId, waitUntil } from "./util.ts"

const fast = { reconnect: Schedule.spaced("200 millis"), connectTimeout: "10 seconds" } as const

/** Every payload received on `stream`, appended to `into` (in the background). */
const gather = <E>(mqtt: MqttClient["Service"], filter: string, into: Array<string>) =>
  Effect.flatMap(mqtt.subscription(filter, { qos: 1 }), (s) =>
    s.messages.pipe(Stream.runForEach((m) => Effect.sync(() => into.push(m.text))), Effect.forkScoped)
  )

const statusLog = (mqtt: MqttClient["Service"]) =>
  Effect.gen(function*() {
    const seen: Array<ConnectionStatus> = []
    yield* SubscriptionRef.changes(mqtt.status).pipe(Stream.runForEach((s) => Effect.sync(() => seen.push(s))), Effect.forkScoped)
    return seen
  })

describeRabbitMQ("MqttClient against a 3-node RabbitMQ 3.10 cluster", () => {
  let cluster: RabbitMQClusterHandle | undefined

  it.layer(RabbitMQCluster.layer(), { timeout: "180 seconds", excludeTestServices: true })("failover", (it) => {
    it.effect("a QoS 1 publish on node 1 reaches a subscriber on node 3", () =>
      Effect.gen(function*() {
        const handle = yield* RabbitMQCluster
        cluster = handle
        const on1 = yield* client(handle.urls[0])
        const on3 = yield* client(handle.urls[2])
        const sub = yield* on3.subscription("cluster/a", { qos: 1 })
        const got = yield* collect(sub.messages, 1)
        yield* on1.publish("cluster/a", "from r1 to r3", { qos: 1 })
        const [message] = yield* joinWithin(got, "10 seconds")
        assert.strictEqual(message?.text, "from r1 to r3")
      }), 60_000)

    it.effect(
      "node 1 killed under 2,000 QoS 1 publishes: every publish settles, node 3's subscriber has every completed one, " +
        "a subscriber fails over and subscribes again, a persistent session whose queue died stops within its schedule",
      () =>
        Effect.gen(function*() {
          const { nodes, urls } = yield* RabbitMQCluster
          const topic = `jobs/${uniqueId("t")}`
          // The subscriber on node 3 (its queue lives there).
          const onNode3: Array<string> = []
          const subscriber3 = yield* client(urls[2], { ...fast, urls: [urls[2], urls[0], urls[1]] })
          yield* gather(subscriber3, topic, onNode3)
          // A subscriber connected to node 1: it fails over to node 2 and subscribes again there.
          const movedSeen: Array<string> = []
          const mover = yield* client(urls[0], { ...fast, urls: [...urls] })
          const moverStatus = yield* statusLog(mover)
          yield* gather(mover, `${topic}/marker`, movedSeen)
          // A persistent session whose queue lives on node 1: after the kill, node 2 accepts the CONNECT and
          // closes the connection on its SUBSCRIBE (the queue's home node is down).
          const persistentId = uniqueId("persistent")
          const persistent = yield* client(urls[0], {
            clientId: persistentId,
            cleanSession: false,
            urls: [urls[0], urls[1]],
            reconnect: Schedule.max([Schedule.spaced("200 millis"), Schedule.recurs(6)]),
            connectTimeout: "10 seconds"
          })
          const persistentStatus = yield* statusLog(persistent)
          // Subscribed (SUBACK) on node 1, where its queue now lives.
          const held = yield* persistent.subscription(`${topic}/p`, { qos: 1 })
          const persistentStream = yield* held.messages.pipe(Stream.runDrain, Effect.exit, Effect.forkScoped)

          // The publisher, connected to node 1, publishes 2,000 QoS 1 messages at a steady pace.
          const publisher = yield* client(urls[0], { ...fast, urls: [...urls] })
          const completed: Array<string> = []
          const failed: Array<string> = []
          const publishes = yield* Effect.forkScoped(
            Effect.forEach(Array.from({ length: 2000 }, (_, i) => `m${i}`), (text) =>
              Effect.gen(function*() {
                const exit = yield* publisher.publish(topic, text, { qos: 1 }).pipe(Effect.exit, Effect.forkScoped)
                yield* Effect.sleep("2 millis")
                return exit
              })).pipe(
                Effect.flatMap((fibers) =>
                  Effect.forEach(fibers, (fiber, i) =>
                    Effect.map(Fiber.join(fiber), (exit) => {
                      if (Exit.isSuccess(exit)) completed.push(`m${i}`)
                      else failed.push(`m${i}: ${String(exit.cause)}`)
                    }))
                )
              )
          )
          // Kill node 1 once 300 publishes went through.
          yield* waitUntil(() => onNode3.length >= 300, 30_000, () => `${onNode3.length} received on node 3`)
          yield* nodes[0].kill("SIGKILL")

          // Every publish settles (completes or fails typed); none hangs.
          yield* Fiber.join(publishes).pipe(Effect.timeout("120 seconds"))
          assert.strictEqual(completed.length + failed.length, 2000)
          for (const failure of failed) assert.match(failure, /OfflineQueueFull|ConnectionLost|ConnectError|ClientClosed/, failure)
          assert.isAbove(completed.length, 1000, `most publishes completed (${failed.length} failed: ${failed.slice(0, 3).join("; ")})`)
          // Node 3's subscriber has every message whose publish completed (at least once).
          yield* waitUntil(() => completed.every((t) => onNode3.includes(t)), 30_000, () => {
            const missing = completed.filter((t) => !onNode3.includes(t))
            return `${missing.length} completed publishes not received on node 3, e.g. ${missing.slice(0, 5).join(", ")}`
          })

          // The mover reconnected (to another node) and subscribed again: a message published now reaches it.
          yield* waitUntil(() => moverStatus.some((s) => s._tag === "Disconnected"), 30_000)
          yield* awaitStatus(mover, (s) => s._tag === "Connected", "30 seconds")
          yield* waitUntil(() => movedSeen.length > 0, 20_000, () =>
            `a marker after the failover; the mover's statuses: ${
              moverStatus.map((s) => s._tag === "Disconnected" ? `Disconnected(${s.cause?.message})` : s._tag).join(", ")
            }`).pipe(
            Effect.raceFirst(Effect.forever(Effect.andThen(publisher.publish(`${topic}/marker`, "after", { qos: 1 }), Effect.sleep("300 millis"))))
          )
          assert.include(movedSeen, "after")

          // The persistent session does not loop in silence: its stream fails once the schedule is spent, and
          // status says which SUBSCRIBE the broker left unanswered.
          const ended = yield* Fiber.join(persistentStream).pipe(Effect.timeout("60 seconds"))
          assert.isTrue(Exit.isFailure(ended), "the persistent session's stream failed (the client gave up)")
          const causes = persistentStatus.flatMap((s) => s._tag === "Disconnected" && s.cause !== undefined ? [s.cause.message] : [])
          assert.isTrue(causes.some((m) => m.includes(`SUBSCRIBE to ${topic}/p`)), causes.join("\n"))
          const final = yield* SubscriptionRef.get(persistent.status)
          assert.strictEqual(final._tag, "Disconnected", "the client gave up")
        }),
      180_000
    )

    it.effect("node 1 restarts, rejoins the cluster by itself, and clients keep working across nodes", () =>
      Effect.gen(function*() {
        const { nodes, urls } = yield* RabbitMQCluster
        yield* nodes[0].restart
        const running = yield* nodes[1].ctl(["eval", "lists:sort(rabbit_nodes:all_running())."])
        assert.include(running, "r1@localhost", "r1 is back in the cluster")
        const on1 = yield* client(urls[0])
        const on3 = yield* client(urls[2])
        const sub = yield* on1.subscription("cluster/c", { qos: 1 })
        const got = yield* collect(sub.messages, 1)
        yield* on3.publish("cluster/c", "from r3 to the restarted r1", { qos: 1 })
        const [message] = yield* joinWithin(got, "10 seconds")
        assert.strictEqual(message?.text, "from r3 to the restarted r1")
      }), 90_000)
  })

  afterAll(() => {
    if (cluster === undefined) return
    assert.deepStrictEqual(processesAlive(cluster.pids()), [], "every process of the cluster and its epmd has exited")
  })
})
