/**
 * A tiny mosquitto spawner for the benchmark (foreground process, own config, stopped by PID) and the
 * `mosquitto_pub` / `mosquitto_sub` reference runs.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { once } from "node:events"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

const HOST = "127.0.0.1"

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, HOST, () => {
      const address = server.address() as Net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const waitExit = (proc: ChildProcess, timeoutMs: number): Promise<boolean> =>
  proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      proc.once("exit", () => {
        clearTimeout(timer)
        resolve(true)
      })
    })

/** SIGTERM, then SIGKILL; by PID only. */
export const stopProcess = async (proc: ChildProcess, graceMs = 2000): Promise<void> => {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return
  try {
    process.kill(proc.pid, "SIGTERM")
  } catch {
    return
  }
  if (await waitExit(proc, graceMs)) return
  try {
    process.kill(proc.pid, "SIGKILL")
  } catch {
    return
  }
  await waitExit(proc, 2000)
}

export interface Broker {
  readonly port: number
  readonly url: string
  readonly pid: number
  readonly version: string
  /** Broker log lines (notice/warning/error/subscribe) since start. */
  readonly logs: Array<string>
  /** Resolves once a log line matches (or false after the timeout). */
  readonly waitForLog: (match: (line: string) => boolean, timeoutMs: number, fromIndex?: number) => Promise<boolean>
  readonly stop: () => Promise<void>
}

/** `extraConfig`: more mosquitto.conf lines (bench:cpu adds `set_tcp_nodelay true`). */
export const startMosquitto = async (extraConfig: ReadonlyArray<string> = []): Promise<Broker> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-bench-"))
  Fs.chmodSync(dir, 0o777)
  const port = await freePort()
  const config = [
    `listener ${port} ${HOST}`,
    "allow_anonymous true",
    // Throughput runs: never drop QoS 0 for a subscriber that lags behind, let QoS 1/2 windows through.
    "max_queued_messages 10000000",
    "max_queued_bytes 0",
    "max_inflight_messages 1000",
    "max_connections -1",
    "log_dest stderr",
    // no per-packet debug logging (it would dominate the broker's CPU); "subscribe" shows when a
    // reference subscriber is ready, "notice" carries the "messages are being dropped" warning.
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    "log_type subscribe",
    ...extraConfig,
    ""
  ].join("\n")
  const configFile = Path.join(dir, "mosquitto.conf")
  Fs.writeFileSync(configFile, config, { mode: 0o644 })
  const proc = spawn("mosquitto", ["-c", configFile], { stdio: ["ignore", "ignore", "pipe"] })
  const logs: Array<string> = []
  const waiters = new Set<() => void>()
  let partial = ""
  proc.stderr!.setEncoding("utf8")
  proc.stderr!.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n")
    partial = parts.pop() ?? ""
    for (const line of parts) logs.push(line)
    for (const waiter of waiters) waiter()
  })
  const waitForLog = (match: (line: string) => boolean, timeoutMs: number, fromIndex = 0) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        for (let i = fromIndex; i < logs.length; i++) {
          if (match(logs[i]!)) {
            finish(true)
            return
          }
        }
      }
      const timer = setTimeout(() => finish(false), timeoutMs)
      const finish = (value: boolean) => {
        clearTimeout(timer)
        waiters.delete(check)
        resolve(value)
      }
      waiters.add(check)
      check()
    })
  const running = await waitForLog((l) => / mosquitto version \S+ running/.test(l), 5000)
  if (!running) {
    await stopProcess(proc)
    throw new Error(`mosquitto did not start:\n${logs.join("\n")}`)
  }
  const version = /mosquitto version (\S+)/.exec(logs.join("\n"))?.[1] ?? "?"
  // a TCP probe: the port really is ours
  for (let i = 0; i < 40; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = Net.connect(port, HOST)
      socket.once("connect", () => {
        socket.destroy()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (ok) break
    await sleep(25)
  }
  return {
    port,
    url: `mqtt://${HOST}:${port}`,
    pid: proc.pid!,
    version,
    logs,
    waitForLog,
    stop: async () => {
      await stopProcess(proc)
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The protocol levels mosquitto logged for one worker's clients ("New client connected from ... as
 * <client id> (p5, c1, k60)."): every client id of a worker contains its runId.
 */
export const protocolsOf = (logs: ReadonlyArray<string>, workerRunId: string): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const line of logs) {
    const match = /New client connected from \S+ as (\S+) \((p\d+),/.exec(line)
    if (match === null || !match[1]!.includes(`-${workerRunId}`)) continue
    counts[match[2]!] = (counts[match[2]!] ?? 0) + 1
  }
  return counts
}

/** Runs `mosquitto_pub` to completion (retained messages for the connect case). */
export const mosquittoPub = (port: number, args: ReadonlyArray<string>): void => {
  const result = spawnSync("mosquitto_pub", ["-h", HOST, "-p", String(port), ...args], { timeout: 10_000, encoding: "utf8" })
  if (result.status !== 0) throw new Error(`mosquitto_pub ${args.join(" ")} failed: ${result.stderr}`)
}

export interface ReferenceResult {
  readonly msgPerSec: number
  readonly elapsedMs: number
  readonly complete: boolean
}

/**
 * `mosquitto_pub -l` (one message per stdin line, `-M window` in flight) → broker → `mosquitto_sub -C count`.
 * Timed from the moment the first line is handed to mosquitto_pub until mosquitto_sub exits after its
 * `count`-th message. The subscriber's readiness is read from the broker's subscribe log.
 */
export const reference = async (
  broker: Broker,
  options: { qos: 0 | 1 | 2; size: number; count: number; window: number; id: string; timeoutMs: number }
): Promise<ReferenceResult> => {
  const topic = `bench/ref/${options.id}`
  const subId = `refsub-${options.id}`
  const fromIndex = broker.logs.length
  const sub = spawn(
    "mosquitto_sub",
    ["-h", HOST, "-p", String(broker.port), "-i", subId, "-t", topic, "-q", String(options.qos), "-C", String(options.count)],
    { stdio: ["ignore", "ignore", "inherit"] }
  )
  const subscribed = await broker.waitForLog((l) => l.includes(` ${subId} `) && l.endsWith(` ${topic}`), 5000, fromIndex)
  if (!subscribed) {
    await stopProcess(sub)
    throw new Error(`mosquitto_sub did not subscribe:\n${broker.logs.slice(fromIndex).join("\n")}`)
  }
  const start = performance.now()
  const pub = spawn(
    "mosquitto_pub",
    ["-h", HOST, "-p", String(broker.port), "-i", `refpub-${options.id}`, "-t", topic, "-q", String(options.qos), "-M", String(options.window), "-l"],
    { stdio: ["pipe", "ignore", "inherit"] }
  )
  const subExit = waitExit(sub, options.timeoutMs)
  // feed the lines: `size` bytes of payload each, the sequence number at the front
  const stdin = pub.stdin!
  const filler = "x".repeat(options.size)
  const linesPerChunk = Math.max(1, Math.floor(65536 / (options.size + 1)))
  let aborted = false
  stdin.on("error", () => { aborted = true })
  for (let i = 0; i < options.count && !aborted;) {
    const lines: Array<string> = []
    for (let k = 0; k < linesPerChunk && i < options.count; k++, i++) {
      const seq = String(i)
      lines.push(seq + filler.slice(seq.length))
    }
    if (!stdin.write(lines.join("\n") + "\n")) await once(stdin, "drain")
  }
  stdin.end()
  const complete = await subExit
  const end = performance.now()
  await stopProcess(pub, 500)
  await stopProcess(sub, 500)
  return { msgPerSec: complete ? (options.count / (end - start)) * 1000 : 0, elapsedMs: end - start, complete: complete && sub.exitCode === 0 }
}

export const toolVersion = (): string => {
  const result = spawnSync("mosquitto_pub", ["--help"], { encoding: "utf8" })
  return /mosquitto_pub version (\S+)/.exec(result.stdout + result.stderr)?.[1] ?? "?"
}
