/**
 * examples/worker-pool.ts against mosquitto (shared subscriptions): every job is handled exactly once,
 * and every worker of the pool takes a share.
 */
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { describeMosquitto, Mosquitto } from "../packages/client/test/brokers/index.ts"
import { workerPool } from "./worker-pool.ts"

describeMosquitto("examples/worker-pool.ts", () => {
  it.live("3 workers share 30 jobs: each job once, each worker some", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const perWorker = yield* workerPool({ url: broker.url, group: `pool-${process.pid}`, workers: 3, jobs: 30 })
      const all = perWorker.flat().map((job) => Number(job.replace("job ", ""))).sort((a, b) => a - b)
      assert.deepStrictEqual(all, Array.from({ length: 30 }, (_, i) => i + 1))
      for (const list of perWorker) assert.isAbove(list.length, 0)
    }))
})
