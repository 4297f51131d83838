/**
 * The measurement of the codec benchmark: each case runs both sides on the same input, a warm-up,
 * then rounds of `BENCH_MS` milliseconds per side, alternating which side goes first. Before each
 * round the heap is collected, so that neither side pays for the other's garbage (the large cases
 * allocate 64 KiB per operation, and where a collection fell used to swing their ratio from 0.5 to
 * 1.5). A case's ratio is the median of its per-round ratios: each round pairs the two sides under
 * the same machine conditions. Every result is folded into `sink`, printed at the end, so no work
 * can be optimized away.
 *
 * Environment: `BENCH_MS` (default 1000), `BENCH_ROUNDS` (5), `BENCH_WARMUP_MS` (300), `BENCH_FILTER`
 * (run only the cases whose name contains it; results.json is then left alone), and
 * `BENCH_CLOCK=cpu` to time with this process's CPU time instead of wall time, which is steadier on a
 * machine busy with other work (it counts every thread of the process, GC helpers included).
 *
 * @since 0.3.0
 */
import { writeFileSync } from "node:fs"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

const ROUND_MS = Number(process.env["BENCH_MS"] ?? 1000)
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 5)
const WARMUP_MS = Number(process.env["BENCH_WARMUP_MS"] ?? 300)
/** Only run the cases whose name contains this (e.g. for profiling one case with `node --cpu-prof`). */
const FILTER = process.env["BENCH_FILTER"] ?? ""
const CPU_CLOCK = process.env["BENCH_CLOCK"] === "cpu"

// A full collection between rounds: `gc` exposed at run time, so `node bench/codec.bench.ts` needs no flag.
setFlagsFromString("--expose-gc")
const collect = runInNewContext("gc") as () => void

/**
 * One benchmark case: the same work by ours and by mqtt-packet. `rounds` multiplies the number of
 * rounds (for the cases dominated by allocation and copying, whose rounds vary most).
 *
 * @since 0.3.0
 */
export interface Case {
  readonly name: string
  readonly ours: () => void
  readonly peer: () => void
  readonly rounds?: number
}

/** Milliseconds, of wall time or of process CPU time (`BENCH_CLOCK=cpu`). */
const now = (): number => {
  if (!CPU_CLOCK) return performance.now()
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** Runs `fn` for about `ms` milliseconds, in batches so the clock is read rarely; returns ops/s. */
const measure = (fn: () => void, ms: number): number => {
  let batch = 1
  let ops = 0
  const start = now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) fn()
    ops += batch
    elapsed = now() - start
    // Grow the batch until one batch takes about 1/50 of the round.
    if (elapsed < ms / 50) batch *= 2
  }
  return (ops * 1000) / elapsed
}

/** One round of `fn` on a collected heap. */
const round = (fn: () => void): number => {
  collect()
  return measure(fn, ROUND_MS)
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

interface Result {
  readonly case: string
  readonly ours: number
  readonly peer: number
  readonly ratio: number
}

const format = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2))

/**
 * Runs `cases`, prints a table and the geometric mean of ours/peer (over the MQTT 3.1.1 cases, and
 * over the MQTT 5.0 ones, whose names start with "v5"), and writes `results.json` next to the
 * caller (`resultsUrl`) unless `BENCH_FILTER` is set.
 *
 * @since 0.3.0
 */
export const run = (cases: ReadonlyArray<Case>, resultsUrl: URL, sink: () => number): void => {
  const results: Array<Result> = []
  console.log(
    `node ${process.version}, ${ROUNDS} rounds x ${ROUND_MS} ms (${CPU_CLOCK ? "CPU" : "wall"} time) per side, median ops/s\n`
  )
  console.log(`${"case".padEnd(56)} ${"ours ops/s".padStart(14)} ${"peer ops/s".padStart(14)} ${"ours/peer".padStart(10)}`)
  for (const c of cases.filter((c) => c.name.includes(FILTER))) {
    measure(c.ours, WARMUP_MS)
    measure(c.peer, WARMUP_MS)
    const ours: Array<number> = []
    const peer: Array<number> = []
    const ratios: Array<number> = []
    for (let i = 0; i < ROUNDS * (c.rounds ?? 1); i++) {
      // Alternate which side goes first, so drift (GC, thermal) does not favour one.
      const [o, p] = i % 2 === 0 ? [round(c.ours), round(c.peer)] : [round(c.peer), round(c.ours)].reverse()
      ours.push(o as number)
      peer.push(p as number)
      ratios.push((o as number) / (p as number))
    }
    const result = { case: c.name, ours: median(ours), peer: median(peer), ratio: median(ratios) }
    results.push(result)
    console.log(
      `${c.name.padEnd(56)} ${format(result.ours).padStart(14)} ${format(result.peer).padStart(14)} ${result.ratio.toFixed(2).padStart(10)}`
    )
  }
  const geomean = (rs: ReadonlyArray<Result>) => Math.exp(rs.reduce((acc, r) => acc + Math.log(r.ratio), 0) / rs.length)
  const v4 = results.filter((r) => !r.case.startsWith("v5"))
  const v5 = results.filter((r) => r.case.startsWith("v5"))
  if (v4.length > 0) console.log(`\ngeometric mean of ours/peer, MQTT 3.1.1 cases: ${geomean(v4).toFixed(2)}`)
  if (v5.length > 0) console.log(`geometric mean of ours/peer, MQTT 5.0 cases:   ${geomean(v5).toFixed(2)}`)
  if (FILTER === "") {
    writeFileSync(resultsUrl, JSON.stringify(results, null, 2) + "\n")
    console.log(`wrote bench/results.json (sink ${sink()})`)
  } else console.log(`BENCH_FILTER set: bench/results.json not written (sink ${sink()})`)
}
