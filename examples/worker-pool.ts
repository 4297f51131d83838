/**
 * A worker pool on a shared subscription:   MQTT_URL=mqtt://localhost:1883 npx -y pnpm@10 example:worker-pool
 *
 * N workers (default 3, `WORKERS`), each its own MQTT session, subscribe to `$share/workers/jobs/#`: the
 * broker hands each job to one of them [MQTT-4.8.2]. Start the example in several processes and they all
 * join the same group. The example publishes 30 jobs and prints which worker did each.
 *
 * Needs a broker with shared subscriptions (mosquitto 2, EMQX, HiveMQ, VerneMQ; mosquitto serves them to
 * MQTT 3.1.1 clients too). The embedded aedes broker used when `MQTT_URL` is unset does not have them:
 * there the example says so instead of waiting forever.
 */
import { MqttClient } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Ref, Stream } from "effect"
import { fileURLToPath } from "node:url"
import { brokerUrl } from "./broker.ts"

/** One worker: its own client (so the broker sees a member of the group) and a stream on the group. */
const worker = (url: string, group: string, name: string, done: Ref.Ref<ReadonlyArray<string>>) =>
  Effect.gen(function*() {
    const mqtt = Context.get(yield* Layer.build(MqttClient.layer({ url, clientId: `${group}-${name}-${process.pid}` })), MqttClient)
    const jobs = yield* mqtt.subscription(`$share/${group}/jobs/#`, { qos: 1 })
    yield* jobs.messages.pipe(
      Stream.runForEach((job) =>
        Effect.gen(function*() {
          yield* Console.log(`${name} handles ${job.topic}: ${job.text}`)
          yield* Ref.update(done, (all) => [...all, job.text])
        })
      ),
      Effect.forkScoped
    )
  })

/**
 * Starts `workers` workers in `group`, publishes `jobs` jobs, and waits until they were all handled (or
 * `timeout` passed). Returns the jobs each worker handled.
 */
export const workerPool = (options: { readonly url: string; readonly group: string; readonly workers: number; readonly jobs: number }) =>
  Effect.gen(function*() {
    const handled = Array.from({ length: options.workers }, () => Ref.makeUnsafe<ReadonlyArray<string>>([]))
    yield* Effect.forEach(handled, (done, i) => worker(options.url, options.group, `worker${i + 1}`, done), { discard: true })
    const producer = Context.get(yield* Layer.build(MqttClient.layer({ url: options.url })), MqttClient)
    for (let n = 1; n <= options.jobs; n++) yield* producer.publish(`jobs/${n % 2 === 0 ? "resize" : "encode"}`, `job ${n}`, { qos: 1 })
    const count = Effect.map(Effect.forEach(handled, Ref.get), (lists) => lists.reduce((sum, list) => sum + list.length, 0))
    const allDone = Effect.gen(function*() {
      while ((yield* count) < options.jobs) yield* Effect.sleep("50 millis")
    })
    yield* allDone.pipe(Effect.timeout("5 seconds"), Effect.ignore)
    return yield* Effect.forEach(handled, Ref.get)
  })

const main = Effect.gen(function*() {
  const url = yield* brokerUrl
  const workers = Number(process.env.WORKERS ?? 3)
  const perWorker = yield* workerPool({ url, group: "workers", workers, jobs: 30 })
  const total = perWorker.reduce((sum, list) => sum + list.length, 0)
  if (total === 0) {
    return yield* Console.log(
      "No worker received a job: the broker does not serve shared subscriptions ($share/...). The embedded aedes " +
        "broker does not; run against mosquitto 2: MQTT_URL=mqtt://localhost:1883 npx -y pnpm@10 example:worker-pool"
    )
  }
  yield* Console.log(`${total} jobs handled: ${perWorker.map((list, i) => `worker${i + 1} ${list.length}`).join(", ")}`)
})

// Run as a program (not when a test imports `workerPool`).
if (process.argv[1] === fileURLToPath(import.meta.url)) main.pipe(Effect.scoped, NodeRuntime.runMain)
