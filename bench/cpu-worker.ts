/**
 * One side (publisher or subscriber) of one (library, case) of bench/cpu.ts, alone in a fresh Node
 * process (or the `pacer` pseudo-library: the publisher's loop without a client), so that `process.cpuUsage()` counts that side only. Input is argv[2] (JSON CpuWorkerInput);
 * it says `ready` once connected (and subscribed), then the publisher waits for `start` and the
 * subscriber for its messages (or `stop`); the report goes back over IPC and the process exits.
 */
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
  const hooks = { ready: () => void send({ type: "ready" }), signal: signalled }
  try {
    const { bench, url, topic, clientId, noDelay } = input
    if (input.library === "pacer") {
      await send({ type: "pub", report: await pacerOnly(bench, hooks, TICK_MS) })
      process.exit(0)
    }
    const lib = input.library === "ours" ? await import("./cpu-ours.ts") : await import("./cpu-mqttjs.ts")
    if (input.role === "pub") await send({ type: "pub", report: await lib.publisher(bench, url, topic, clientId, hooks, noDelay) })
    else await send({ type: "sub", report: await lib.subscriber(bench, url, topic, clientId, hooks, noDelay) })
  } catch (cause) {
    await send({ type: "error", error: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause) })
  }
  // exit explicitly: a stuck socket must not keep the worker alive
  process.exit(0)
}

void main()
