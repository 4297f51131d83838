/**
 * Memory per connection: N idle clients, each connected and subscribed to its own topic, held open
 * while the worker measures heap and RSS after a full gc. Complements bench:e2e, whose cases (2 to
 * 100 clients) are dominated by the cost of loading each library.
 *
 *   npx -y pnpm@10 bench:connections               1000 clients per library
 *   npx -y pnpm@10 bench:connections --clients 200
 *
 * Each library runs in its own process (this file, forked with `--worker`); one mosquitto serves both.
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Context, Effect, Layer, Stream } from "effect"
import mqtt from "mqtt"
import { MqttClient } from "../packages/client/dist/index.js"
import { startMosquitto } from "./broker.ts"
import { type Library, MB } from "./common.ts"

interface Sample {
  readonly rssMB: number
  readonly heapMB: number
}

interface WorkerResult {
  readonly baseline: Sample
  readonly connected: Sample
}

const BATCH = 50 // clients dialled at once: a 1000-client burst would be a connect storm, not what is measured

const settle = async (): Promise<Sample> => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const m = process.memoryUsage()
  return { rssMB: m.rss / MB, heapMB: m.heapUsed / MB }
}

/** Runs `one(i)` for every i, BATCH at a time. */
const inBatches = async (count: number, one: (i: number) => Promise<void>): Promise<void> => {
  for (let start = 0; start < count; start += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, count - start) }, (_, k) => one(start + k)))
  }
}

const ours = (url: string, count: number): Promise<Sample> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function*() {
        const one = (i: number) =>
          Effect.gen(function*() {
            const context = yield* Layer.build(MqttClient.layer({ url, clientId: `idle-ours-${i}`, keepAlive: 60 }))
            const subscription = yield* Context.get(context, MqttClient).subscription(`bench/idle/${i}`)
            yield* Effect.forkScoped(Stream.runDrain(subscription.messages)) // a consumer, as an application has
          })
        yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), one, { concurrency: BATCH, discard: true })
        return yield* Effect.promise(settle) // measured while every client is open; the scope closes them after
      })
    )
  )

const mqttjs = async (url: string, count: number): Promise<Sample> => {
  await inBatches(count, (i) =>
    new Promise<void>((resolve, reject) => {
      const client = mqtt.connect(url, { clientId: `idle-mqttjs-${i}`, keepalive: 60, clean: true, protocolVersion: 4, reconnectPeriod: 0 })
      client.once("error", reject)
      client.once("connect", () => client.subscribe(`bench/idle/${i}`, (error) => (error ? reject(error) : resolve())))
      client.on("message", () => {}) // a consumer, as an application has
    })
  )
  return settle()
}

const worker = async (library: Library, url: string, count: number): Promise<WorkerResult> => {
  // Loaded before the baseline (both libraries are imported statically), so the baseline includes them.
  const baseline = await settle()
  const connected = library === "ours" ? await ours(url, count) : await mqttjs(url, count)
  return { baseline, connected }
}

const runWorker = (library: Library, url: string, count: number): Promise<WorkerResult> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--worker", library, url, String(count)], {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let result: WorkerResult | undefined
    child.on("message", (message) => {
      result = message as WorkerResult
    })
    child.on("exit", (code) => (result === undefined ? reject(new Error(`${library} worker exited with ${code}`)) : resolve(result)))
  })

const args = process.argv.slice(2)
if (args[0] === "--worker") {
  const result = await worker(args[1] as Library, args[2]!, Number(args[3]))
  process.send?.(result, () => process.exit(0))
} else {
  const i = args.indexOf("--clients")
  const count = i >= 0 ? Number(args[i + 1]) : 1000
  const broker = await startMosquitto()
  try {
    console.log(`${count} idle clients per library, each subscribed to its own topic; mosquitto ${broker.version}; node ${process.version}`)
    console.log("| library | RSS before | heap before | RSS with clients | heap with clients | RSS per client | heap per client |")
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (const library of ["ours", "mqttjs"] as const) {
      const { baseline, connected } = await runWorker(library, broker.url, count)
      const per = (a: number, b: number) => `${(((b - a) * 1024) / count).toFixed(1)} KB`
      console.log(
        `| ${library === "ours" ? "aimeqtt" : "MQTT.js"} | ${baseline.rssMB.toFixed(1)} MB | ${baseline.heapMB.toFixed(1)} MB | ${
          connected.rssMB.toFixed(1)
        } MB | ${connected.heapMB.toFixed(1)} MB | ${per(baseline.rssMB, connected.rssMB)} | ${per(baseline.heapMB, connected.heapMB)} |`
      )
    }
  } finally {
    await broker.stop()
  }
}
