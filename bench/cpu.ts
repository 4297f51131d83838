/**
 * CPU per message: what the broker cannot hide. For each case a publisher process and a subscriber
 * process (bench/cpu-worker.ts, one library each) run against one local mosquitto; the publisher offers
 * a fixed rate below the broker's ceiling, both measure `process.cpuUsage()` over the steady-state
 * window only (after a warm-up), and the subscriber records every message's round trip (publish call →
 * its callback) and checks every sequence number.
 *
 *   npx -y pnpm@10 bench:cpu                  full run, each (library, case) 3 times (~8 min)
 *   ... --quick                               0.5 s warm-up + 1 s measured per run instead of 1 s + 4 s
 *   ... --only "QoS 1"                        cases whose name contains the text (3.1.1 and v5)
 *   ... --repeat N                            runs per (library, case), alternating order; median kept
 *   ... --lib ours|mqttjs                     one library only
 *   ... --rate-scale F                        multiply every offered rate by F (does the broker keep up?)
 *   ... --mqttjs-nagle                        leave Nagle's algorithm on in MQTT.js's sockets (its default;
 *                                             by default the harness turns it off, as our client does)
 *   ... --broker-nagle                        mosquitto without `set_tcp_nodelay true`
 *   ... --profile                             V8 CPU profile of each worker from `ready` to its report
 *                                             (node:inspector) into bench/profiles/cpu-LIB-ROLE-CASE.cpuprofile;
 *                                             the profiler's cost is in the µs/msg (results not written)
 *   ... --no-pacer                            skip the publisher-loop-only runs (the harness's own cost)
 *   ... --write / --no-write                  write bench/cpu-results.{json,md} even if the run was
 *                                             partial or the machine busy / never
 *
 * Results are written only for a full run (no --quick, --only, --lib, --rate-scale, --*-nagle) on a quiet
 * machine, or with --write.
 */
import { type ChildProcess, fork } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { type Broker, protocolsOf, startMosquitto, stopProcess } from "./broker.ts"
import { type Library, mosquittoProtocolTag } from "./common.ts"
import {
  type CpuCase,
  type CpuWorkerInput,
  type FromWorker,
  makeCpuCases,
  type PublisherReport,
  type Role,
  type SubscriberReport,
  type ToWorker,
  usPerMessage
} from "./cpu-common.ts"
import { cpuSample, type CpuShare, cpuShare, formatLoad, formatShare, machineAtStart, machineVerdict } from "./machine.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const quick = flag("--quick")
const only = option("--only")
const repeat = Math.max(1, Number(option("--repeat") ?? 3))
const libOption = option("--lib")
if (libOption !== undefined && libOption !== "ours" && libOption !== "mqttjs") {
  console.error(`--lib must be ours or mqttjs, not ${libOption}`)
  process.exit(2)
}
const libraries: ReadonlyArray<Library> = libOption !== undefined ? [libOption] : ["ours", "mqttjs"]
const runId = Math.random().toString(16).slice(2, 8)
/** Keep mosquitto's default (Nagle on): by default the bench broker sets `set_tcp_nodelay true`. */
const brokerNagle = flag("--broker-nagle")
const withPacer = !flag("--no-pacer")
/** Keep MQTT.js's default socket (Nagle on): by default the harness turns it off, as our client does. */
const mqttjsNagle = flag("--mqttjs-nagle")
const rateScale = Number(option("--rate-scale") ?? 1)
const profile = flag("--profile")
const profileDir = Path.join(here, "profiles")
if (profile) Fs.mkdirSync(profileDir, { recursive: true })
const cases = makeCpuCases(quick, rateScale).filter((c) => only === undefined || c.id.includes(only))

/** A run that published below this share of the offered rate did not hold the rate (flagged). */
const RATE_HELD = 0.97
/**
 * A run whose median round trip exceeds this did not keep up: messages queued somewhere (broker,
 * socket buffers, subscriber), so its latency is queueing time and its subscriber worked in large
 * batches (flagged).
 */
const BACKLOG_MS = 5
const CPU_GOAL = 0.7
const LATENCY_GOAL = 1.0

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** `promise`, or `fallback` after `ms`. */
const within = <A>(promise: Promise<A>, ms: number, fallback: A): Promise<A> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms)
    void promise.then((value) => {
      clearTimeout(timer)
      resolve(value)
    })
  })

interface Worker {
  readonly child: ChildProcess
  /** true once connected (and subscribed); false if the worker exited first. */
  readonly ready: Promise<boolean>
  /** The report, or an error (also when the worker exits without one). */
  readonly result: Promise<FromWorker>
  readonly send: (message: ToWorker) => void
}

const startWorker = (input: CpuWorkerInput): Worker => {
  const child = fork(Path.join(here, "cpu-worker.ts"), [JSON.stringify(input)], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  let onReady: (ok: boolean) => void = () => {}
  const ready = new Promise<boolean>((resolve) => { onReady = resolve })
  const result = new Promise<FromWorker>((resolve) => {
    child.on("message", (message: FromWorker) => {
      if (message.type === "ready") onReady(true)
      else {
        onReady(false)
        resolve(message)
      }
    })
    child.on("exit", (code, signal) => {
      onReady(false)
      resolve({ type: "error", error: `${input.role} worker exited (${code ?? signal}) without a result` })
    })
  })
  return {
    child,
    ready,
    result,
    send: (message) => {
      if (child.connected) child.send(message)
    }
  }
}

/** One (library, case) run: both sides, their reports, and what the harness checked. */
interface Run {
  readonly library: Library
  readonly round: number
  readonly runId: string
  readonly pub?: PublisherReport
  readonly sub?: SubscriberReport
  /** µs of CPU per measured message, publisher and subscriber process. */
  readonly pubUs: number
  readonly subUs: number
  /** Every sequence number (warm-up and measured) arrived exactly once; no error; protocol as asked. */
  readonly ok: boolean
  /** The publisher published at >= RATE_HELD of the offered rate. */
  readonly rateHeld: boolean
  /** Median round trip above BACKLOG_MS. */
  readonly backlog: boolean
  readonly errors: ReadonlyArray<string>
  /** Protocol tag mosquitto logged ("p2" 3.1.1, "p5" 5.0) → clients. */
  readonly protocols: Record<string, number>
}

const runOnce = async (broker: Broker, bench: CpuCase, library: Library, round: number, index: number): Promise<Run> => {
  const id = `${runId}-${index}-${round}-${library}`
  const topic = `bench/cpu/${id}`
  const logStart = broker.logs.length
  const input = (role: Role): CpuWorkerInput => ({
    library,
    role,
    bench,
    url: broker.url,
    topic,
    clientId: `${library}-${role}-${id}`,
    noDelay: !mqttjsNagle,
    ...(profile ? { profilePath: Path.join(profileDir, `cpu-${library}-${role}-${bench.id.replace(/[^A-Za-z0-9]+/g, "-")}.cpuprofile`) } : {})
  })
  const errors: Array<string> = []
  const seconds = (bench.warmup + bench.count) / bench.rate
  const sub = startWorker(input("sub"))
  const pub = (await within(sub.ready, 30_000, false)) ? startWorker(input("pub")) : undefined
  let pubResult: FromWorker | undefined
  let subResult: FromWorker | undefined
  if (pub !== undefined && (await within(pub.ready, 30_000, false))) {
    await sleep(200) // let both processes settle after connecting
    pub.send({ type: "start" })
    pubResult = await within(pub.result, seconds * 3000 + 30_000, { type: "error", error: "publisher timed out" })
    // the subscriber reports by itself once the set is complete; stop it if messages are missing
    // (after a grace period that lets a backlog drain)
    subResult = await within(sub.result, Math.max(10_000, seconds * 2000), undefined)
    if (subResult === undefined) {
      sub.send({ type: "stop" })
      subResult = await within(sub.result, 5_000, { type: "error", error: "subscriber did not report" })
    }
  } else {
    errors.push("a worker did not get ready")
    pubResult = pub === undefined ? undefined : await within(pub.result, 1000, undefined)
    subResult = await within(sub.result, 1000, undefined)
  }
  for (const worker of [pub, sub]) if (worker !== undefined) await stopProcess(worker.child, 5000)
  for (const result of [pubResult, subResult]) if (result?.type === "error") errors.push(result.error)
  const pubReport = pubResult?.type === "pub" ? pubResult.report : undefined
  const subReport = subResult?.type === "sub" ? subResult.report : undefined
  // the broker's connect lines are written long before the run ends; wait briefly if not yet read
  await broker.waitForLog((l) => l.includes(`-${id}`), 1000, logStart)
  const protocols = protocolsOf(broker.logs.slice(logStart), id)
  const expected = mosquittoProtocolTag(bench.protocolVersion)
  if (Object.keys(protocols).some((tag) => tag !== expected) || (protocols[expected] ?? 0) !== 2) {
    errors.push(`protocol check: mosquitto logged ${JSON.stringify(protocols)} for this run's 2 clients, expected ${expected}`)
  }
  const v = subReport?.verification
  if (v !== undefined && !(v.complete && v.duplicates === 0)) {
    errors.push(`lost or duplicated messages: ${v.distinct} of ${v.expected} distinct, ${v.duplicates} duplicates, ${v.badPayloads} bad payloads`)
  }
  const ok = errors.length === 0 && pubReport !== undefined && subReport !== undefined
  return {
    library,
    round,
    runId: id,
    ...(pubReport !== undefined ? { pub: pubReport } : {}),
    ...(subReport !== undefined ? { sub: subReport } : {}),
    pubUs: pubReport === undefined ? Number.NaN : usPerMessage(pubReport.cpu, pubReport.messages),
    subUs: subReport === undefined ? Number.NaN : usPerMessage(subReport.cpu, subReport.messages),
    ok,
    rateHeld: pubReport !== undefined && pubReport.achievedRate >= RATE_HELD * bench.rate,
    backlog: subReport !== undefined && !(subReport.latency.p50 <= BACKLOG_MS),
    errors,
    protocols
  }
}

/** NaN crosses IPC as null: both print as "–". */
const fixed = (value: number | null | undefined, digits: number) => typeof value !== "number" || Number.isNaN(value) ? "–" : value.toFixed(digits)
const int = (value: number) => Math.round(value).toLocaleString("en-US")

const describeRun = (run: Run): string => {
  const flags = [
    ...(run.ok ? [] : [`FLAGGED: ${run.errors.join("; ")}`]),
    ...(run.pub !== undefined && !run.rateHeld ? ["rate not held"] : []),
    ...(run.backlog ? [`backlog (p50 > ${BACKLOG_MS} ms)`] : [])
  ]
  const pub = run.pub === undefined ? "pub –" : `pub ${fixed(run.pubUs, 2)} µs/msg at ${int(run.pub.achievedRate)} msg/s`
  const sub = run.sub === undefined
    ? "sub –"
    : `sub ${fixed(run.subUs, 2)} µs/msg at ${int(run.sub.receiveRate)} msg/s; round trip p50 ${fixed(run.sub.latency.p50, 3)} p90 ${fixed(run.sub.latency.p90, 3)} p99 ${
      fixed(run.sub.latency.p99, 3)
    } ms`
  const protocols = Object.entries(run.protocols).map(([tag, n]) => `${tag}${n > 1 ? ` ×${n}` : ""}`).join(", ") || "no connection logged"
  return `${pub}; ${sub} [${protocols}]${flags.length > 0 ? ` ${flags.join("; ")}` : ""}`
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Medians over a library's runs that lost nothing (flagged runs are left out). */
interface Medians {
  readonly runs: number
  readonly counted: number
  readonly rateNotHeld: number
  readonly backlog: number
  readonly pubUs: number
  readonly subUs: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly achievedRate: number
}

const medians = (runs: ReadonlyArray<Run>): Medians => {
  const good = runs.filter((r) => r.ok)
  return {
    runs: runs.length,
    counted: good.length,
    rateNotHeld: good.filter((r) => !r.rateHeld).length,
    backlog: good.filter((r) => r.backlog).length,
    pubUs: median(good.map((r) => r.pubUs)),
    subUs: median(good.map((r) => r.subUs)),
    p50: median(good.map((r) => r.sub!.latency.p50)),
    p90: median(good.map((r) => r.sub!.latency.p90)),
    p99: median(good.map((r) => r.sub!.latency.p99)),
    achievedRate: median(good.map((r) => r.pub!.achievedRate))
  }
}

interface CaseOutcome {
  readonly bench: CpuCase
  readonly runs: ReadonlyArray<Run>
  readonly medians: Partial<Record<Library, Medians>>
  /** Median µs per message of the publisher's loop alone (`pacer`), NaN with --no-pacer. */
  readonly pacerUs: number
  readonly drops: ReadonlyArray<string>
  readonly cpu?: CpuShare
}

/** The `pacer` pseudo-library: the publisher's loop alone (no client, no broker), µs per message. */
const runPacer = async (bench: CpuCase, round: number, index: number): Promise<number> => {
  const id = `${runId}-${index}-${round}-pacer`
  const worker = startWorker({ library: "pacer", role: "pub", bench, url: "", topic: "", clientId: id, noDelay: true })
  let result: FromWorker | undefined
  if (await within(worker.ready, 30_000, false)) {
    worker.send({ type: "start" })
    result = await within(worker.result, ((bench.warmup + bench.count) / bench.rate) * 3000 + 30_000, undefined)
  }
  await stopProcess(worker.child, 5000)
  return result?.type === "pub" ? usPerMessage(result.report.cpu, result.report.messages) : Number.NaN
}

const runCase = async (broker: Broker, bench: CpuCase, index: number): Promise<CaseOutcome> => {
  const logStart = broker.logs.length
  const cpuFrom = cpuSample([broker.pid])
  const runs: Array<Run> = []
  const pacer: Array<number> = []
  for (let round = 0; round < repeat; round++) {
    // alternate which library goes first, so a burst of load on the machine hits both alike
    const order = round % 2 === 0 ? libraries : [...libraries].reverse()
    for (const library of order) {
      const run = await runOnce(broker, bench, library, round, index)
      runs.push(run)
      process.stdout.write(`  ${library.padEnd(6)} ${describeRun(run)}\n`)
      await sleep(300) // let the broker and the kernel settle between runs
    }
    if (withPacer) {
      pacer.push(await runPacer(bench, round, index))
      process.stdout.write(`  pacer  pub ${fixed(pacer[pacer.length - 1], 2)} µs/msg (the publisher's loop and payloads alone, no client)\n`)
    }
  }
  const drops = broker.logs.slice(logStart).filter((l) => /dropped|dropping/i.test(l))
  const cpu = cpuShare(cpuFrom, cpuSample([broker.pid]))
  process.stdout.write(`  machine: ${formatShare(cpu)}, load average ${formatLoad(Os.loadavg())}\n`)
  const result: Partial<Record<Library, Medians>> = {}
  for (const library of libraries) result[library] = medians(runs.filter((r) => r.library === library))
  return { bench, runs, medians: result, pacerUs: median(pacer), drops, ...(cpu !== undefined ? { cpu } : {}) }
}

/** ours / MQTT.js for CPU (lower is better), MQTT.js / ours for latency (higher is better). */
const ratio = (numerator: number | undefined, denominator: number | undefined): number =>
  numerator !== undefined && denominator !== undefined && numerator > 0 && denominator > 0 ? numerator / denominator : Number.NaN

/** One line of the results (cpu-results.json `rows`). */
interface ResultRow {
  readonly case: string
  readonly rate: number
  readonly ours?: Medians
  readonly mqttjs?: Medians
  /** The publisher's loop alone, µs per message (in both libraries' `pubUs`). */
  readonly pacerUs: number
  /**
   * ours / MQTT.js µs per message: goal <= 0.7. `pubNet`: both publishers minus the pacer's own cost
   * (what the client itself spends).
   */
  readonly cpuRatio: { readonly pub: number; readonly pubNet: number; readonly sub: number; readonly total: number }
  /** MQTT.js / ours round trip: goal >= 1.0. */
  readonly latencyRatio: { readonly p50: number; readonly p90: number; readonly p99: number }
  readonly notes: ReadonlyArray<string>
}

const toRow = (outcome: CaseOutcome): ResultRow => {
  const ours = outcome.medians.ours
  const theirs = outcome.medians.mqttjs
  const notes: Array<string> = []
  for (const [library, m] of Object.entries(outcome.medians)) {
    if (m.counted < m.runs) notes.push(`${library}: ${m.runs - m.counted} of ${m.runs} runs flagged (not counted)`)
    if (m.rateNotHeld > 0) notes.push(`${library}: rate not held in ${m.rateNotHeld} of ${m.counted} runs`)
    if (m.backlog > 0) notes.push(`${library}: backlog in ${m.backlog} of ${m.counted} runs`)
  }
  if (outcome.drops.length > 0) notes.push("broker dropped messages")
  return {
    case: outcome.bench.id,
    rate: outcome.bench.rate,
    ...(ours !== undefined ? { ours } : {}),
    ...(theirs !== undefined ? { mqttjs: theirs } : {}),
    pacerUs: outcome.pacerUs,
    cpuRatio: {
      pub: ratio(ours?.pubUs, theirs?.pubUs),
      pubNet: Number.isNaN(outcome.pacerUs)
        ? Number.NaN
        : ratio(ours === undefined ? undefined : ours.pubUs - outcome.pacerUs, theirs === undefined ? undefined : theirs.pubUs - outcome.pacerUs),
      sub: ratio(ours?.subUs, theirs?.subUs),
      total: ratio(ours === undefined ? undefined : ours.pubUs + ours.subUs, theirs === undefined ? undefined : theirs.pubUs + theirs.subUs)
    },
    latencyRatio: { p50: ratio(theirs?.p50, ours?.p50), p90: ratio(theirs?.p90, ours?.p90), p99: ratio(theirs?.p99, ours?.p99) },
    notes
  }
}

const times = (value: number) => Number.isNaN(value) ? "–" : `${value.toFixed(2)}×`

const cpuTable = (rows: ReadonlyArray<ResultRow>): string =>
  [
    "| case | offered msg/s | ours pub µs/msg | ours sub µs/msg | MQTT.js pub µs/msg | MQTT.js sub µs/msg | pacer alone µs/msg | ours/MQTT.js pub | pub net of pacer | sub | pub+sub |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.case}${r.notes.length > 0 ? " ⚑" : ""} | ${int(r.rate)} | ${fixed(r.ours?.pubUs, 2)} | ${fixed(r.ours?.subUs, 2)} | ${
        fixed(r.mqttjs?.pubUs, 2)
      } | ${fixed(r.mqttjs?.subUs, 2)} | ${fixed(r.pacerUs, 2)} | ${times(r.cpuRatio.pub)} | ${times(r.cpuRatio.pubNet)} | ${times(r.cpuRatio.sub)} | ${
        times(r.cpuRatio.total)
      } |`
    )
  ].join("\n")

const latencyTable = (rows: ReadonlyArray<ResultRow>): string =>
  [
    "| case | ours p50 ms | ours p90 | ours p99 | MQTT.js p50 ms | MQTT.js p90 | MQTT.js p99 | MQTT.js/ours p50 | p90 | p99 |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.case}${r.notes.length > 0 ? " ⚑" : ""} | ${fixed(r.ours?.p50, 3)} | ${fixed(r.ours?.p90, 3)} | ${fixed(r.ours?.p99, 3)} | ${fixed(r.mqttjs?.p50, 3)} | ${
        fixed(r.mqttjs?.p90, 3)
      } | ${fixed(r.mqttjs?.p99, 3)} | ${times(r.latencyRatio.p50)} | ${times(r.latencyRatio.p90)} | ${times(r.latencyRatio.p99)} |`
    )
  ].join("\n")

/** `max X (goal ...: yes/no)` over the rows' ratios, NaN (a library missing) left out. */
const spread = (values: ReadonlyArray<number>, worst: "max" | "min", goal: number): string => {
  const known = values.filter((v) => !Number.isNaN(v))
  if (known.length === 0) return "–"
  const value = worst === "max" ? Math.max(...known) : Math.min(...known)
  const met = worst === "max" ? known.every((v) => v <= goal) : known.every((v) => v >= goal)
  return `${worst} ${value.toFixed(2)} (goal ${worst === "max" ? "<=" : ">="} ${goal} in every case: ${met ? "yes" : "no"})`
}

const main = async () => {
  const started = performance.now()
  const broker = await startMosquitto(brokerNagle ? [] : ["set_tcp_nodelay true"])
  const start = machineAtStart([broker.pid], repeat)
  console.log(
    `mosquitto ${broker.version} on ${broker.url} (pid ${broker.pid}); node ${process.version}; ${Os.cpus().length} cores; run ${runId}${
      quick ? " (--quick: 0.5 s warm-up, 1 s measured)" : ""
    }`
  )
  console.log(
    `Nagle's algorithm: ours off (its default); MQTT.js ${mqttjsNagle ? "on (its default, --mqttjs-nagle)" : "off (setNoDelay)"}; mosquitto ${
      brokerNagle ? "on (its default, --broker-nagle)" : "off (set_tcp_nodelay true)"
    }`
  )
  const outcomes: Array<CaseOutcome> = []
  let cpuAfter: ReturnType<typeof cpuSample>
  try {
    for (const [index, bench] of cases.entries()) {
      console.log(
        `${bench.id} — ${int(bench.rate)} msg/s offered, ${int(bench.warmup)} warm-up + ${int(bench.count)} measured messages, at most ${bench.window} in flight`
      )
      outcomes.push(await runCase(broker, bench, index))
    }
  } finally {
    cpuAfter = cpuSample([broker.pid])
    await broker.stop()
  }
  const { loadBefore, loadAfter, cpuRun, busy, machineLine, busyLine } = machineVerdict(start, cpuAfter)

  const rows = outcomes.map(toRow)
  const summary = [
    busyLine,
    machineLine,
    `CPU per message, ours / MQTT.js: publisher ${spread(rows.map((r) => r.cpuRatio.pub), "max", CPU_GOAL)}; publisher net of the pacer ${
      spread(rows.map((r) => r.cpuRatio.pubNet), "max", CPU_GOAL)
    }; subscriber ${
      spread(rows.map((r) => r.cpuRatio.sub), "max", CPU_GOAL)
    }; both ${spread(rows.map((r) => r.cpuRatio.total), "max", CPU_GOAL)}`,
    `round trip at the offered rate, MQTT.js / ours: p50 ${spread(rows.map((r) => r.latencyRatio.p50), "min", LATENCY_GOAL)}; p99 ${
      spread(rows.map((r) => r.latencyRatio.p99), "min", LATENCY_GOAL)
    }`,
    `median of ${repeat} run${repeat > 1 ? "s" : ""} per library and case (alternating order); runs that lost a message are flagged and left out`
  ]
  for (const r of rows.filter((r) => r.notes.length > 0)) summary.push(`⚑ ${r.case}: ${r.notes.join("; ")}`)
  for (const o of outcomes.filter((o) => o.drops.length > 0)) summary.push(`broker dropped messages during "${o.bench.id}": ${o.drops[0]}`)
  for (const o of outcomes) {
    for (const run of o.runs.filter((r) => !r.ok)) summary.push(`FLAGGED ${o.bench.id} [${run.library}, run ${run.round + 1}]: ${run.errors.join("; ")}`)
  }
  console.log("")
  if (busy.length > 0) console.log(busyLine)
  console.log(cpuTable(rows))
  console.log("")
  console.log(latencyTable(rows))
  console.log("")
  for (const line of summary) console.log(line)
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`)

  const partial = quick || profile || only !== undefined || libraries.length < 2 || rateScale !== 1 || brokerNagle || mqttjsNagle || !withPacer
  const write = !flag("--no-write") && (flag("--write") || (!partial && busy.length === 0))
  if (!write) {
    console.log(
      flag("--no-write")
        ? "(--no-write: results not written)"
        : partial
        ? "(a partial or non-default run: results not written; --write to write them anyway)"
        : "(busy machine: results not written; --write to write them anyway)"
    )
    return
  }
  const environment = {
    date: new Date().toISOString(),
    command: `npx -y pnpm@10 bench:cpu ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ")}`.trim(),
    node: process.version,
    cpus: `${Os.cpus().length} x ${Os.cpus()[0]?.model ?? "?"}`,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAfter,
    cpuDuringRun: cpuRun ?? null,
    busy,
    repeat,
    quick,
    rateScale,
    nagle: { mqttjs: mqttjsNagle, broker: brokerNagle },
    mosquitto: broker.version,
    mqttjs: JSON.parse(Fs.readFileSync(Path.join(here, "..", "node_modules", "mqtt", "package.json"), "utf8")).version as string
  }
  Fs.writeFileSync(Path.join(here, "cpu-results.json"), JSON.stringify({ environment, summary, rows, outcomes }, null, 2) + "\n")
  Fs.writeFileSync(
    Path.join(here, "cpu-results.md"),
    [
      `\`${environment.command}\` on ${environment.date} (${environment.cpus}; node ${environment.node}, mosquitto ${environment.mosquitto}, MQTT.js ${environment.mqttjs})`,
      "",
      "µs of CPU (user + system) per message over the measured window, publisher and subscriber each in its own process:",
      "",
      cpuTable(rows),
      "",
      "Round trip (publish call → subscriber callback) at the offered rate:",
      "",
      latencyTable(rows),
      "",
      ...summary.map((l) => `- ${l}`),
      ""
    ].join("\n")
  )
  console.log("wrote bench/cpu-results.json, bench/cpu-results.md")
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
