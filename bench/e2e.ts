/**
 * End-to-end benchmark: aimeqtt versus MQTT.js against one local mosquitto, with mosquitto_pub/sub as
 * the reference for what the broker carries. Every (library, case) runs in a fresh child process
 * (bench/worker.ts) that samples its own memory; the cases run one after another (2 cores).
 *
 *   npx -y pnpm@10 bench:e2e            full run (~2-4 min)
 *   npx -y pnpm@10 bench:e2e --quick    10x fewer messages, results not written
 *   ... --only "QoS 1"                  cases whose name contains the text
 *   ... --profile                       ours only, V8 CPU profile of each case (the measured part only,
 *                                       via node:inspector) in bench/profiles/; prints the hottest functions
 *   ... --no-reference                  skip mosquitto_pub/sub
 *   ... --lib ours|mqttjs               one library only
 *   ... --repeat N                      run each (library, case) N times, alternating, keep the best
 *                                       (the round trip runs at least 5 times)
 *   ... --window N                      publish window for every throughput case (experiments)
 *   ... --no-write                      print the tables, write no result files
 *
 * The throughput cases run under MQTT 3.1.1 and again under MQTT 5.0 (`throughput v5 ...`: both
 * libraries with protocolVersion 5), each set with its own geometric mean. After every worker the
 * harness reads mosquitto's "New client connected ... (pN, ...)" lines for that worker's clients: a
 * client that connected with another protocol level than its case asks for fails the run. The load
 * average is printed before and after, and the CPU other processes took during each case and the
 * whole run (bench/machine.ts); a run on a busy machine is flagged in the summary.
 */
import { fork } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { type Broker, mosquittoPub, protocolsOf, reference, type ReferenceResult, startMosquitto, toolVersion } from "./broker.ts"
import { type BenchCase, type Library, makeCases, mosquittoProtocolTag, type WorkerInput, type WorkerOutput } from "./common.ts"
import { cpuSample, type CpuShare, cpuShare, formatLoad, formatShare, machineAtStart, machineVerdict } from "./machine.ts"
import { summarizeProfile } from "./profile.ts"
import { geometricMean, markdownTable, ratioOf, type Row, svgChart, type TableRow } from "./report.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const quick = flag("--quick")
const profile = flag("--profile")
const withReference = !flag("--no-reference") && !profile
const write = !flag("--no-write")
const only = option("--only")
const repeat = Math.max(1, Number(option("--repeat") ?? 1))
const runId = Math.random().toString(16).slice(2, 8)
const windowOverride = option("--window")
const cases = makeCases(quick ? 10 : 1, runId)
  .filter((c) => only === undefined || c.id.includes(only))
  .map((c) => (c.kind === "throughput" && windowOverride !== undefined ? { ...c, window: Number(windowOverride) } : c))
const libraries: ReadonlyArray<Library> = option("--lib") !== undefined ? [option("--lib") as Library] : profile ? ["ours"] : ["ours", "mqttjs"]
const profileDir = Path.join(here, "profiles")

const LATENCY_REPEAT = 5

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const runWorker = (input: WorkerInput): Promise<WorkerOutput> =>
  new Promise((resolve) => {
    const execArgv = ["--expose-gc"]
    const child = fork(Path.join(here, "worker.ts"), [JSON.stringify(input)], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] })
    let output: WorkerOutput | undefined
    const killer = setTimeout(() => {
      if (child.pid !== undefined) child.kill("SIGKILL")
    }, input.timeoutMs + 30_000)
    child.on("message", (message) => { output = message as WorkerOutput })
    child.on("exit", (code, signal) => {
      clearTimeout(killer)
      resolve(
        output ?? {
          ok: false,
          error: `worker exited (${code ?? signal}) without a result`,
          metrics: {},
          peakRssMB: 0,
          peakHeapMB: 0,
          baselineRssMB: 0,
          baselineHeapMB: 0,
          durationMs: 0
        }
      )
    })
  })

const slug = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")

interface CaseOutcome {
  readonly bench: BenchCase
  readonly results: Partial<Record<Library, WorkerOutput>>
  /** Every repeat, in run order. */
  readonly runs: Record<Library, ReadonlyArray<WorkerOutput>>
  readonly reference?: ReferenceResult
  readonly drops: ReadonlyArray<string>
  /** Per run (same order as `runs`): protocol tag mosquitto logged ("p2" 3.1.1, "p5" 5.0) → clients. */
  readonly protocols: Record<Library, ReadonlyArray<Record<string, number>>>
  /** What the case's time (workers and reference) left to other processes. */
  readonly cpu?: CpuShare
}

/** A worker whose clients did not all speak the case's protocol version failed, whatever it measured. */
const checkProtocol = (bench: BenchCase, output: WorkerOutput, seen: Record<string, number>): WorkerOutput => {
  const expected = mosquittoProtocolTag(bench.protocolVersion)
  const other = Object.keys(seen).filter((tag) => tag !== expected)
  if (other.length === 0 && (seen[expected] ?? 0) > 0) return output
  if (other.length === 0 && !output.ok) return output // it failed before any client connected
  return {
    ...output,
    ok: false,
    error: `protocol check: mosquitto logged ${JSON.stringify(seen)} for this worker's clients, expected only ${expected} (MQTT ${
      bench.protocolVersion === 5 ? "5.0" : "3.1.1"
    })${output.error === undefined ? "" : `; ${output.error}`}`
  }
}

const protocolLabel = (seen: Record<string, number>): string =>
  Object.entries(seen).map(([tag, n]) => `${tag}${n > 1 ? ` ×${n}` : ""}`).join(", ") || "no connection logged"

const runCase = async (broker: Broker, bench: BenchCase, index: number): Promise<CaseOutcome> => {
  const results: Partial<Record<Library, WorkerOutput>> = {}
  const logStart = broker.logs.length
  const timeoutMs = bench.kind === "throughput" ? Math.max(60_000, bench.count / 2) : 60_000
  let ref: ReferenceResult | undefined
  const runs: Record<Library, Array<WorkerOutput>> = { ours: [], mqttjs: [] }
  const protocols: Record<Library, Array<Record<string, number>>> = { ours: [], mqttjs: [] }
  const cpuFrom = cpuSample([broker.pid])
  // A p99 is one bad burst of machine load away from doubling, and a run takes ~3 s: latency always
  // gets at least LATENCY_REPEAT runs per library (best kept, as for every case).
  const rounds = bench.kind === "latency" && !quick ? Math.max(repeat, LATENCY_REPEAT) : repeat
  for (let round = 0; round < rounds; round++) {
    // alternate which library goes first, so a burst of load on the machine hits both alike
    const order = round % 2 === 0 ? libraries : [...libraries].reverse()
    for (const library of order) {
      if (bench.kind === "connect") mosquittoPub(broker.port, ["-t", bench.topic, "-m", "retained hello", "-r", "-q", "1"])
      const profilePath = profile ? Path.join(profileDir, `${library}-${slug(bench.id)}.cpuprofile`) : undefined
      if (profilePath !== undefined) Fs.mkdirSync(profileDir, { recursive: true })
      const input: WorkerInput = {
        library,
        bench,
        url: broker.url,
        runId: `${runId}-${index}-${round}-${library}`,
        timeoutMs,
        ...(profilePath !== undefined ? { profilePath } : {})
      }
      const workerLogStart = broker.logs.length
      const measured = await runWorker(input)
      // the broker's connect lines are written long before the worker ends; wait briefly if not yet read
      await broker.waitForLog((l) => l.includes(`-${input.runId}`), 1000, workerLogStart)
      const seen = protocolsOf(broker.logs.slice(workerLogStart), input.runId)
      const output = checkProtocol(bench, measured, seen)
      runs[library].push(output)
      protocols[library].push(seen)
      if (bench.kind === "connect") mosquittoPub(broker.port, ["-t", bench.topic, "-n", "-r", "-q", "1"])
      process.stdout.write(`  ${library.padEnd(6)} ${describe(bench, output)} [${protocolLabel(seen)}]\n`)
      await sleep(300) // let the broker and the kernel settle between runs
    }
  }
  for (const library of libraries) results[library] = best(runs[library])
  if (withReference && bench.kind === "throughput") {
    ref = await reference(broker, { qos: bench.qos, size: bench.size, count: bench.count, window: bench.window, id: `${runId}-${index}`, timeoutMs })
    process.stdout.write(`  ref    ${Math.round(ref.msgPerSec).toLocaleString("en-US")} msg/s${ref.complete ? "" : " INCOMPLETE"}\n`)
    await sleep(300)
  }
  const drops = broker.logs.slice(logStart).filter((l) => /dropped|dropping/i.test(l))
  const cpu = cpuShare(cpuFrom, cpuSample([broker.pid]))
  process.stdout.write(`  machine: ${formatShare(cpu)}, load average ${formatLoad(Os.loadavg())}\n`)
  return { bench, results, runs, protocols, ...(ref !== undefined ? { reference: ref } : {}), drops, ...(cpu !== undefined ? { cpu } : {}) }
}

/** Best of the repeats, per metric (msg/s: highest; times and memory: lowest); failed if any run failed. */
const best = (outputs: ReadonlyArray<WorkerOutput>): WorkerOutput => {
  const failed = outputs.find((o) => !o.ok)
  if (failed !== undefined || outputs.length === 1) return failed ?? outputs[0]!
  const metrics: Record<string, number> = {}
  for (const key of Object.keys(outputs[0]!.metrics)) {
    const values = outputs.map((o) => o.metrics[key] ?? Number.NaN)
    metrics[key] = key === "msgPerSec" ? Math.max(...values) : Math.min(...values)
  }
  return {
    ...outputs[0]!,
    metrics,
    peakRssMB: Math.min(...outputs.map((o) => o.peakRssMB)),
    peakHeapMB: Math.min(...outputs.map((o) => o.peakHeapMB)),
    baselineRssMB: Math.min(...outputs.map((o) => o.baselineRssMB)),
    baselineHeapMB: Math.min(...outputs.map((o) => o.baselineHeapMB)),
    durationMs: outputs.reduce((sum, o) => sum + o.durationMs, 0)
  }
}

const describe = (bench: BenchCase, output: WorkerOutput): string => {
  const memory = `peak RSS ${output.peakRssMB.toFixed(1)} MB, heap ${output.peakHeapMB.toFixed(1)} MB`
  if (!output.ok) return `FAILED ${output.error ?? ""} ${JSON.stringify(output.verification ?? {})} (${memory})`
  const m = output.metrics
  if (bench.kind === "throughput") return `${Math.round(m.msgPerSec ?? 0).toLocaleString("en-US")} msg/s (${memory})`
  if (bench.kind === "latency") {
    return `p50 ${m.p50?.toFixed(3)} ms, p99 ${m.p99?.toFixed(3)} ms; first window p99 ${m.firstP99?.toFixed(3)} ms (${memory})`
  }
  return `all ${m.totalMs?.toFixed(1)} ms, p50 ${m.p50Ms?.toFixed(1)} ms (${memory})`
}

const metric = (outcome: CaseOutcome, library: Library, key: string): number => {
  const output = outcome.results[library]
  if (output === undefined || !output.ok) return 0
  return output.metrics[key] ?? 0
}

const row = (name: string, ours: number, mqttjs: number, unit: string, extra: Partial<TableRow> = {}): TableRow => ({
  case: name,
  ours,
  mqttjs,
  ratio: ratioOf(ours, mqttjs, unit),
  unit,
  ...extra
})

/** `min X, geometric mean Y` of the rows' ratios. */
const ratioSpread = (rows: ReadonlyArray<TableRow>): string =>
  `min ${Math.min(...rows.map((r) => r.ratio)).toFixed(2)}, geometric mean ${geometricMean(rows.map((r) => r.ratio)).toFixed(2)}`

const toRows = (outcomes: ReadonlyArray<CaseOutcome>): { main: Array<TableRow>; memory: Array<TableRow> } => {
  const main: Array<TableRow> = []
  const memory: Array<TableRow> = []
  for (const outcome of outcomes) {
    const b = outcome.bench
    if (b.kind === "throughput") {
      main.push(
        row(b.id, metric(outcome, "ours", "msgPerSec"), metric(outcome, "mqttjs", "msgPerSec"), "msg/s", {
          ...(outcome.reference !== undefined ? { reference: outcome.reference.msgPerSec } : {}),
          ...(outcome.drops.length > 0 ? { note: "broker dropped messages" } : {})
        })
      )
    } else if (b.kind === "latency") {
      main.push(row(`${b.id} p50`, metric(outcome, "ours", "p50"), metric(outcome, "mqttjs", "p50"), "ms"))
      main.push(row(`${b.id} p99`, metric(outcome, "ours", "p99"), metric(outcome, "mqttjs", "p99"), "ms"))
      main.push(
        row(`${b.id} p99, first ${b.samples.toLocaleString("en-US")} after connecting`, metric(outcome, "ours", "firstP99"), metric(outcome, "mqttjs", "firstP99"), "ms")
      )
    } else {
      main.push(row(b.id, metric(outcome, "ours", "totalMs"), metric(outcome, "mqttjs", "totalMs"), "ms"))
    }
    const mem = (library: Library, key: "peakRssMB" | "peakHeapMB") => outcome.results[library]?.[key] ?? 0
    memory.push(row(`peak RSS: ${b.id}`, mem("ours", "peakRssMB"), mem("mqttjs", "peakRssMB"), "MB"))
    memory.push(row(`peak heap: ${b.id}`, mem("ours", "peakHeapMB"), mem("mqttjs", "peakHeapMB"), "MB"))
  }
  return { main, memory }
}

/**
 * Peak minus the worker's baseline (library loaded, after a full gc): what each library's run added
 * on top of its own code. Not part of e2e-results.json (the issue's peak figures are), printed and
 * kept in e2e-results.md / e2e-run.json to separate the runtime's load cost from per-run memory.
 */
const growthRows = (outcomes: ReadonlyArray<CaseOutcome>): Array<TableRow> =>
  outcomes.flatMap((outcome) => {
    const grown = (library: Library, peak: "peakRssMB" | "peakHeapMB", base: "baselineRssMB" | "baselineHeapMB") => {
      const r = outcome.results[library]
      return r === undefined ? 0 : Math.max(0.001, r[peak] - r[base])
    }
    return [
      row(`RSS growth: ${outcome.bench.id}`, grown("ours", "peakRssMB", "baselineRssMB"), grown("mqttjs", "peakRssMB", "baselineRssMB"), "MB"),
      row(`heap growth: ${outcome.bench.id}`, grown("ours", "peakHeapMB", "baselineHeapMB"), grown("mqttjs", "peakHeapMB", "baselineHeapMB"), "MB")
    ]
  })

const baselineLine = (outcomes: ReadonlyArray<CaseOutcome>): string => {
  const mean = (library: Library, key: "baselineRssMB" | "baselineHeapMB") => {
    const values = outcomes.flatMap((o) => (o.results[library] === undefined ? [] : [o.results[library]![key]]))
    return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
  }
  return `library loaded, before any case (mean): ours RSS ${mean("ours", "baselineRssMB").toFixed(1)} MB, heap ${
    mean("ours", "baselineHeapMB").toFixed(1)
  } MB; MQTT.js RSS ${mean("mqttjs", "baselineRssMB").toFixed(1)} MB, heap ${mean("mqttjs", "baselineHeapMB").toFixed(1)} MB`
}

const main = async () => {
  const started = performance.now()
  const broker = await startMosquitto()
  const start = machineAtStart([broker.pid], repeat)
  console.log(
    `mosquitto ${broker.version} on ${broker.url} (pid ${broker.pid}); node ${process.version}; ${Os.cpus().length} cores; run ${runId}${
      quick ? " (--quick: 10x fewer messages)" : ""
    }`
  )
  const outcomes: Array<CaseOutcome> = []
  let cpuAfter: ReturnType<typeof cpuSample>
  try {
    for (const [index, bench] of cases.entries()) {
      console.log(`${bench.id}${bench.kind === "throughput" ? ` — ${bench.count.toLocaleString("en-US")} messages, window ${bench.window}` : ""}`)
      outcomes.push(await runCase(broker, bench, index))
    }
  } finally {
    cpuAfter = cpuSample([broker.pid])
    await broker.stop()
  }
  const { loadBefore, loadAfter, cpuRun, busy, machineLine, busyLine } = machineVerdict(start, cpuAfter)

  if (profile) {
    console.log("")
    console.log(busyLine)
    console.log(machineLine)
    for (const file of Fs.readdirSync(profileDir).filter((f) => f.endsWith(".cpuprofile")).sort()) {
      console.log(`== ${file}`)
      console.log(summarizeProfile(Path.join(profileDir, file), 20))
    }
    return
  }

  const { main: mainRows, memory } = toRows(outcomes)
  const all = [...mainRows, ...memory]
  // The targets are judged on the MQTT 3.1.1 cases (the same set as before the v5 cases existed, so
  // runs stay comparable); the MQTT 5.0 throughput cases get their own lines.
  const v4 = outcomes.filter((o) => o.bench.protocolVersion === 4)
  const v5 = outcomes.filter((o) => o.bench.protocolVersion === 5)
  const v4Rows = toRows(v4)
  const v5Rows = toRows(v5)
  const throughputLine = (label: string, rows: ReadonlyArray<TableRow>, target: string) => {
    const ratios = rows.filter((r) => r.unit === "msg/s").map((r) => r.ratio)
    return ratios.length === 0 ? [] : [
      `${label}: ${geometricMean(ratios).toFixed(2)} over ${ratios.length} cases (${target}every ratio >= 1.0: ${ratios.every((r) => r >= 1) ? "yes" : "no"})`
    ]
  }
  const summary = [
    busyLine,
    machineLine,
    ...throughputLine("throughput geometric mean ratio (MQTT 3.1.1)", v4Rows.main, "target >= 1.3; "),
    ...throughputLine("throughput v5 geometric mean ratio (MQTT 5.0)", v5Rows.main, ""),
    ...v4Rows.main.filter((r) => r.case.endsWith("p99")).slice(0, 1).map((r) => `latency p99 ratio: ${r.ratio.toFixed(2)} (target >= 1.0)`),
    ...(v4Rows.memory.length > 0 ? [`peak memory ratios (RSS, heap), MQTT 3.1.1 cases: ${ratioSpread(v4Rows.memory)} (target >= 1.0)`] : []),
    ...(v5Rows.memory.length > 0 ? [`peak memory ratios (RSS, heap), v5 cases: ${ratioSpread(v5Rows.memory)}`] : [])
  ]
  const growth = growthRows(outcomes)
  summary.push(baselineLine(outcomes))
  if (v4.length > 0) summary.push(`memory growth above that baseline (RSS, heap), MQTT 3.1.1 cases: ${ratioSpread(growthRows(v4))}`)
  if (v5.length > 0) summary.push(`memory growth above that baseline (RSS, heap), v5 cases: ${ratioSpread(growthRows(v5))}`)
  const drops = outcomes.filter((o) => o.drops.length > 0)
  for (const o of drops) summary.push(`broker dropped messages during "${o.bench.id}": ${o.drops[0]}`)
  const failed = outcomes.flatMap((o) =>
    Object.entries(o.results).filter(([, r]) => !r.ok).map(([lib, r]) => `${o.bench.id} [${lib}]: ${r.error ?? JSON.stringify(r.verification)}`)
  )
  for (const f of failed) summary.push(`FAILED ${f}`)
  console.log("")
  if (busy.length > 0) console.log(busyLine)
  console.log(markdownTable(all))
  console.log("")
  console.log(markdownTable(growth))
  console.log("")
  for (const line of summary) console.log(line)
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`)

  if (quick || only !== undefined || !write) {
    console.log("(--quick / --only / --no-write: results not written)")
    return
  }
  const rows: Array<Row> = all.map(({ case: name, ours, mqttjs, ratio, unit }) => ({
    case: name,
    ours: round(ours),
    mqttjs: round(mqttjs),
    ratio: Math.round(ratio * 1000) / 1000,
    unit
  }))
  Fs.writeFileSync(Path.join(here, "e2e-results.json"), JSON.stringify(rows, null, 2) + "\n")
  const environment = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${Os.cpus().length} x ${Os.cpus()[0]?.model ?? "?"}`,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter,
    cpuDuringRun: cpuRun ?? null,
    busy,
    repeat,
    quick,
    mosquitto: broker.version,
    mosquittoClients: toolVersion(),
    mqttjs: JSON.parse(Fs.readFileSync(Path.join(here, "..", "node_modules", "mqtt", "package.json"), "utf8")).version as string
  }
  Fs.writeFileSync(
    Path.join(here, "e2e-run.json"),
    JSON.stringify({ environment, summary, table: all, growth, outcomes }, null, 2) + "\n"
  )
  const subtitle = `mosquitto ${environment.mosquitto}, node ${environment.node}, MQTT.js ${environment.mqttjs}, ${environment.cpus}; best of ${repeat}; ${
    environment.date.slice(0, 10)
  }`
  Fs.writeFileSync(Path.join(here, "e2e-results.svg"), svgChart(all, "aimeqtt vs MQTT.js — end to end against mosquitto", subtitle))
  Fs.writeFileSync(Path.join(here, "e2e-results.md"), markdownTable(all) + "\n\n" + markdownTable(growth) + "\n\n" + summary.map((l) => `- ${l}`).join("\n") + "\n")
  console.log("wrote bench/e2e-results.json, bench/e2e-results.svg, bench/e2e-results.md, bench/e2e-run.json")
}

const round = (value: number) => Math.round(value * 1000) / 1000

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
