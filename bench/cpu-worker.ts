/**
 * One side (publisher or subscriber) of one (library, case) of bench/cpu.ts, alone in a fresh Node
 * process (or the `pacer` pseudo-library: the publisher's loop without a client), so that `process.cpuUsage()` counts that side only. Input is argv[2] (JSON CpuWorkerInput);
 * it says `ready` once connected (and subscribed), then the publisher waits for `start` and the
 * subscriber for its messages (or `stop`); the report goes back over IPC and the process exits.
 */
import * as Fs from "node:fs"
import { type CpuWorkerInput, type FromWorker, pacerOnly, TICK_MS, type ToWorker } from "./cpu-common.ts"

const input = JSON.parse(process.argv[2]!) as CpuWorkerInput

const send = (message: FromWorker): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) {
      console.log(JSON.stringify(message))
      resolve()
    } else process.send(message, () => resolve())
  })

const main = async () => {
  let signal: () => void = () => {}
  const signalled = new Promise<void>((resolve) => { signal = resolve })
  process.on("message", (message: ToWorker) => {
    if (message.type === "start" || message.type === "stop") signal()
  })
  // --profile: sample from `ready` (connected, subscribed) to the report, not the process's start-up
  const inspector = input.profilePath === undefined ? undefined : new (await import("node:inspector/promises")).Session()
  if (inspector !== undefined) {
    inspector.connect()
    await inspector.post("Profiler.enable")
    await inspector.post("Profiler.setSamplingInterval", { interval: 250 })
  }
  const hooks = {
    ready: () => {
      void (inspector === undefined ? Promise.resolve() : inspector.post("Profiler.start")).then(() => send({ type: "ready" }))
    },
    signal: signalled
  }
  const report = async (message: FromWorker) => {
    if (inspector !== undefined && input.profilePath !== undefined) {
      const { profile } = await inspector.post("Profiler.stop")
      Fs.writeFileSync(input.profilePath, JSON.stringify(profile))
      inspector.disconnect()
    }
    await send(message)
  }
  try {
    const { bench, url, topic, clientId, noDelay } = input
    if (input.library === "pacer") {
      await send({ type: "pub", report: await pacerOnly(bench, hooks, TICK_MS) })
      process.exit(0)
    }
    const lib = input.library === "ours" ? await import("./cpu-ours.ts") : await import("./cpu-mqttjs.ts")
    if (input.role === "pub") await report({ type: "pub", report: await lib.publisher(bench, url, topic, clientId, hooks, noDelay) })
    else await report({ type: "sub", report: await lib.subscriber(bench, url, topic, clientId, hooks, noDelay) })
  } catch (cause) {
    await send({ type: "error", error: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause) })
  }
  // exit explicitly: a stuck socket must not keep the worker alive
  process.exit(0)
}

void main()
