import { Context, Effect, Layer, Stream } from "effect"
import { MqttClient } from "../packages/client/src/index.ts"
const url = process.argv[2]!
const N = 200_000
const client = (clientId: string, maxInflight = 100) =>
  Layer.build(MqttClient.layer({ url, clientId, keepAlive: 60, maxInflight, connectTimeout: "20 seconds" })).pipe(Effect.map((c) => Context.get(c, MqttClient)))
const payload = new Uint8Array(64)
await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const pub = yield* client("scratch-pub", 1000)
  const sub = yield* client("scratch-sub")
  const s = yield* sub.subscription("scratch/t", { qos: 0 })
  let got = 0
  let t1 = 0
  const consumer = yield* s.messages.pipe(Stream.runForEachArray((ms) => Effect.sync(() => { got += ms.length; if (got >= N) t1 = performance.now() })), Effect.forkChild({ startImmediately: true }))
  const t0 = performance.now()
  yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), () => pub.publish("scratch/t", payload), { concurrency: 1000, discard: true })
  const tp = performance.now()
  console.log(`publish side: ${(N / (tp - t0) * 1000).toFixed(0)} msg/s`)
  while (got < N) yield* Effect.sleep("10 millis")
  console.log(`end to end: ${(N / (t1 - t0) * 1000).toFixed(0)} msg/s`)
})))
process.exit(0)
