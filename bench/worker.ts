/**
 * Runs one (library, case) in a fresh process so that peak memory is not polluted by the other
 * library. Forked by bench/e2e.ts; input is argv[2] (JSON WorkerInput), output goes back over IPC.
 */
import { writeFileSync } from "node:fs"
import { MB, startMemorySampler, type WorkerInput, type WorkerOutput } from "./common.ts"
import type { CaseResult } from "./ours.ts"

const input = JSON.parse(process.argv[2]!) as WorkerInput

const send = (output: WorkerOutput): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) {
      console.log(JSON.stringify(output))
      resolve()
    } else process.send(output, () => resolve())
  })

const main = async () => {
  // Load the library before the baseline sample, so the baseline includes its code.
  const lib = input.library === "ours" ? await import("./ours.ts") : await import("./mqttjs.ts")
  globalThis.gc?.()
  const baseline = process.memoryUsage()
  const baselineRssMB = baseline.rss / MB
  const baselineHeapMB = baseline.heapUsed / MB
  // --profile: V8's sampling profiler around the case only (module loading and setup excluded)
  const inspector = input.profilePath === undefined ? undefined : new (await import("node:inspector/promises")).Session()
  if (inspector !== undefined) {
    inspector.connect()
    await inspector.post("Profiler.enable")
    await inspector.post("Profiler.setSamplingInterval", { interval: 250 })
    await inspector.post("Profiler.start")
  }
  const sampler = startMemorySampler()
  const started = performance.now()
  let result: CaseResult | undefined
  let error: string | undefined
  try {
    const c = input.bench
    result = c.kind === "throughput"
      ? await lib.throughput(c, input.url, input.runId, input.timeoutMs)
      : c.kind === "latency"
      ? await lib.latency(c, input.url, input.runId)
      : await lib.connect(c, input.url, input.runId)
  } catch (cause) {
    error = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
  }
  const memory = sampler.stop()
  if (inspector !== undefined) {
    const { profile } = await inspector.post("Profiler.stop")
    writeFileSync(input.profilePath!, JSON.stringify(profile))
    inspector.disconnect()
  }
  const output: WorkerOutput = {
    ok: error === undefined && (result?.verification?.complete ?? true),
    ...(error !== undefined ? { error } : {}),
    metrics: result?.metrics ?? {},
    ...(result?.verification !== undefined ? { verification: result.verification } : {}),
    ...memory,
    baselineRssMB,
    baselineHeapMB,
    durationMs: performance.now() - started
  }
  await send(output)
  // exit explicitly: a stuck socket must not keep the worker alive (and --cpu-prof writes on exit)
  process.exit(0)
}

void main()
