/**
 * Real mosquitto brokers and CLI peers (`mosquitto_sub`, `mosquitto_pub`) for interop tests.
 *
 * Every broker runs in the foreground (`mosquitto -c FILE`, no `-d`) with its own temp dir and config on a
 * free 127.0.0.1 port, and is stopped by PID when its scope closes.
 */
import { Effect, type Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { guardsFor } from "./Guards.ts"
import {
  BrokerError,
  appendLines,
  findExecutable,
  freePort,
  HOST,
  pidAlive,
  type RunningProcess,
  scopedTempDir,
  signalPid,
  spawnProcess,
  stopProcess,
  tcpProbe,
  waitExit,
  waitOnProcess
} from "./internal.ts"

/** Absolute path of the `mosquitto` broker executable, or `undefined` when it is not installed. */
export const mosquittoBinary: string | undefined = findExecutable("mosquitto")
/** Absolute path of `mosquitto_sub`, or `undefined`. */
export const mosquittoSubBinary: string | undefined = findExecutable("mosquitto_sub")
/** Absolute path of `mosquitto_pub`, or `undefined`. */
export const mosquittoPubBinary: string | undefined = findExecutable("mosquitto_pub")
/**
 * Absolute path of coreutils `stdbuf`, used to line-buffer `mosquitto_sub` (trap: writing to a pipe, its stdout is
 * block-buffered, so neither the `-d` SUBACK line nor the messages show up before it exits).
 */
export const stdbufBinary: string | undefined = findExecutable("stdbuf")
/** Absolute path of `mosquitto_passwd`, or `undefined`. */
export const mosquittoPasswdBinary: string | undefined = findExecutable("mosquitto_passwd")

/**
 * `true` when the broker and its CLI tools (`mosquitto`, `mosquitto_sub`, `mosquitto_pub`, `mosquitto_passwd`)
 * are all installed. Checked once, by scanning `PATH` (and the sbin dirs), without a shell.
 */
export const mosquittoAvailable: boolean = mosquittoBinary !== undefined && mosquittoSubBinary !== undefined &&
  mosquittoPubBinary !== undefined && mosquittoPasswdBinary !== undefined

/** `true` when `process.env.CI === "true"`: a missing mosquitto then fails the tests instead of skipping them. */
export { isCI } from "./Guards.ts"

const MISSING = "mosquitto is required under CI (install: apt-get install -y mosquitto mosquitto-clients)"

const mosquittoGuards = guardsFor({
  available: mosquittoAvailable,
  missing: MISSING,
  testUnderCI: "mosquitto is required under CI",
  skipReason: "mosquitto / mosquitto-clients not installed. Install with: apt-get install -y mosquitto mosquitto-clients"
})

/**
 * `describe` for tests that need mosquitto. When it is missing: under CI (`CI=true`) the block holds a single
 * failing test "mosquitto is required under CI"; otherwise the block is skipped with a loud console warning.
 */
export const describeMosquitto: (name: string, fn: () => void) => void = mosquittoGuards.describe

/**
 * Effect guard for a single test: fails with {@link BrokerError} "mosquitto is required ..." when mosquitto is
 * missing. Prefer {@link describeMosquitto}, which also skips outside CI.
 */
export const requireMosquitto: Effect.Effect<void, BrokerError> = mosquittoGuards.require

/** Options of {@link Mosquitto.start}. */
export interface MosquittoOptions {
  /** Port to listen on (e.g. to come back on the port of a previous broker). Default: a free ephemeral port. */
  readonly port?: number
  /**
   * Users and passwords. When present: `mosquitto_passwd -b -c`, `allow_anonymous false`, `password_file`.
   * Default: anonymous access (`allow_anonymous true`).
   */
  readonly users?: Readonly<Record<string, string>>
  /** `persistence true` in the temp dir, saved on every change (`autosave_on_changes true`, `autosave_interval 1`). */
  readonly persistence?: boolean
  /** Extra config lines appended verbatim (e.g. `"max_inflight_messages 1\nmax_queued_messages 5"`). */
  readonly extraConfig?: string
  /** How long to wait for the port to accept TCP connections. Default 5000 ms. */
  readonly startTimeoutMs?: number
}

/** Signals {@link MosquittoBroker.kill} can send. */
export type MosquittoSignal = "SIGKILL" | "SIGTERM" | "SIGSTOP" | "SIGCONT"

/** A running mosquitto broker, owned by a scope. */
export interface MosquittoBroker {
  /** The port, stable across {@link MosquittoBroker.restart}. */
  readonly port: number
  /** Always `"127.0.0.1"`. */
  readonly host: string
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string
  /** PID of the current process (changes after {@link MosquittoBroker.restart}). */
  readonly pid: number
  /** The per-broker temp dir (config, password file, persistence db). Removed on scope close. */
  readonly dir: string
  /** Path of the config file. */
  readonly configFile: string
  /** The config text. */
  readonly config: string
  /**
   * Sends a signal to the current process by PID. For SIGKILL and SIGTERM, waits (up to 5 s) until the
   * process has exited, so that {@link MosquittoBroker.restart} can bind the port again (SIGTERM is repeated
   * every 100 ms: mosquitto 2.0.11 can miss a single one for seconds). SIGTERM is a clean exit (persistence saved).
   */
  readonly kill: (signal: MosquittoSignal) => Effect.Effect<void>
  /**
   * Starts a new process with the same config on the same port. If the current one is still running it is
   * stopped first (SIGTERM, then SIGKILL). The scope stops whichever process is running when it closes.
   */
  readonly restart: Effect.Effect<void, BrokerError>
  /** `true` while the current process exists. */
  readonly alive: Effect.Effect<boolean>
  /** All stderr lines (mosquitto logs there), of every process started so far, for debugging. */
  readonly logs: Effect.Effect<ReadonlyArray<string>>
  /** The logs as one string (handy in assertion messages). */
  readonly logText: () => string
}

const buildConfig = (
  port: number,
  dir: string,
  options: MosquittoOptions,
  passwordFile: string | undefined
): string => {
  const lines = [`listener ${port} ${HOST}`]
  if (passwordFile !== undefined) {
    lines.push("allow_anonymous false", `password_file ${passwordFile}`)
  } else {
    lines.push("allow_anonymous true")
  }
  if (options.persistence === true) {
    lines.push(
      "persistence true",
      `persistence_location ${dir}${Path.sep}`,
      "autosave_on_changes true",
      "autosave_interval 1"
    )
  }
  lines.push("log_dest stderr", "log_type all")
  if (options.extraConfig !== undefined && options.extraConfig.length > 0) lines.push(options.extraConfig)
  return lines.join("\n") + "\n"
}

const runToEnd = (
  command: string,
  args: ReadonlyArray<string>,
  timeoutMs: number
): Effect.Effect<RunningProcess, BrokerError> =>
  Effect.acquireUseRelease(
    spawnProcess(command, args),
    (proc) =>
      Effect.flatMap(waitExit(proc, timeoutMs), (exited) =>
        exited
          ? Effect.succeed(proc)
          : Effect.fail(new BrokerError({ message: `${Path.basename(command)} did not exit within ${timeoutMs} ms` }))),
    (proc) => stopProcess(proc, 200)
  )

// Trap: running as root, mosquitto drops to user `mosquitto` before reading the password file and writing
// persistence; mkdtemp makes the dir 0700, so open it up.
const makeDir = scopedTempDir("aimeqtt-mosquitto-", "mosquitto", 0o777)

const launch = (
  binary: string,
  configFile: string,
  port: number,
  timeoutMs: number,
  logs: Array<string>,
  watchLog: boolean
): Effect.Effect<RunningProcess, BrokerError> =>
  Effect.gen(function*() {
    const proc = yield* spawnProcess(binary, ["-c", configFile])
    const stderrText = () => proc.stderrLines.join("\n")
    const deadline = Date.now() + timeoutMs
    // Trap: a TCP probe alone can hit another listener on the same port (mosquitto then exits with
    // "Address already in use" a moment later), so first wait for mosquitto's own "running" log line.
    if (watchLog) {
      yield* waitOnProcess(
        proc,
        () => proc.stderrLines.some((l) => / mosquitto version \S+ running/.test(l)) ? true : undefined,
        timeoutMs
      )
    }
    let ready = false
    while (!ready && !proc.exited && Date.now() < deadline) {
      ready = yield* tcpProbe(port, 250)
      if (!ready) yield* Effect.sleep("25 millis")
    }
    // keep the stderr lines (the array is shared, new lines keep coming)
    const flushLogs = () => appendLines(logs, proc.stderrLines)
    if (!ready || proc.exited) {
      yield* stopProcess(proc, 500)
      flushLogs()
      return yield* new BrokerError({
        message: proc.exited
          ? `mosquitto exited (code ${String(proc.exitCode)}) before accepting connections on port ${port}:\n${stderrText()}`
          : `mosquitto did not accept TCP connections on port ${port} within ${timeoutMs} ms:\n${stderrText()}`
      })
    }
    return proc
  })

/** Starts real mosquitto brokers. */
export const Mosquitto = {
  /**
   * Starts `mosquitto -c FILE` on 127.0.0.1 (a free ephemeral port unless `options.port`), waits until the port
   * accepts TCP connections (default 5 s, else fails with mosquitto's stderr), and on scope close stops it by PID
   * (SIGTERM, SIGKILL after 2 s) and removes its temp dir.
   */
  start: (options: MosquittoOptions = {}): Effect.Effect<MosquittoBroker, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      if (mosquittoBinary === undefined) return yield* new BrokerError({ message: MISSING })
      const binary = mosquittoBinary
      const timeoutMs = options.startTimeoutMs ?? 5000
      const dir = yield* makeDir
      let passwordFile: string | undefined
      if (options.users !== undefined) {
        if (mosquittoPasswdBinary === undefined) return yield* new BrokerError({ message: MISSING })
        passwordFile = Path.join(dir, "passwd")
        let first = true
        for (const [user, password] of Object.entries(options.users)) {
          const args = first ? ["-b", "-c", passwordFile, user, password] : ["-b", passwordFile, user, password]
          first = false
          const proc = yield* runToEnd(mosquittoPasswdBinary, args, 5000)
          if (proc.exitCode !== 0) {
            return yield* new BrokerError({
              message: `mosquitto_passwd failed for ${user}: ${proc.stderrLines.join("\n")}`,
              exitCode: proc.exitCode ?? -1
            })
          }
        }
        if (first) {
          // no users at all: an empty password file denies everybody
          Fs.writeFileSync(passwordFile, "")
        }
        Fs.chmodSync(passwordFile, 0o644)
      }
      const configFile = Path.join(dir, "mosquitto.conf")
      const logs: Array<string> = []
      // our config logs to stderr unless extraConfig redirects it
      const watchLog = !(options.extraConfig ?? "").includes("log_dest")

      // Pick a port; an ephemeral port can be taken between the probe and mosquitto's bind, so retry.
      let attempt = 0
      let port = options.port ?? (yield* freePort)
      let config = buildConfig(port, dir, options, passwordFile)
      let current: RunningProcess | undefined
      while (current === undefined) {
        attempt += 1
        config = buildConfig(port, dir, options, passwordFile)
        Fs.writeFileSync(configFile, config, { mode: 0o644 })
        const result = yield* Effect.result(launch(binary, configFile, port, timeoutMs, logs, watchLog))
        if (result._tag === "Success") {
          current = result.success
        } else if (options.port === undefined && attempt < 3) {
          port = yield* freePort
        } else {
          return yield* result.failure
        }
      }
      let proc: RunningProcess = current
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => stopProcess(proc)).pipe(Effect.tap(() => Effect.sync(() => appendLines(logs, proc.stderrLines))))
      )
      const allLogs = () => [...logs, ...proc.stderrLines]
      const finalPort = port
      const finalConfig = config

      const broker: MosquittoBroker = {
        port: finalPort,
        host: HOST,
        url: `mqtt://${HOST}:${finalPort}`,
        get pid() {
          return proc.pid
        },
        dir,
        configFile,
        config: finalConfig,
        kill: (signal) =>
          Effect.gen(function*() {
            signalPid(proc.pid, signal)
            if (signal === "SIGKILL") yield* waitExit(proc, 5000)
            if (signal === "SIGTERM") {
              // a lone SIGTERM can go unnoticed for seconds (see stopProcess): repeat it until the exit
              const deadline = Date.now() + 5000
              while (!(yield* waitExit(proc, 100)) && Date.now() < deadline) signalPid(proc.pid, "SIGTERM")
            }
          }),
        restart: Effect.gen(function*() {
          yield* stopProcess(proc)
          appendLines(logs, proc.stderrLines)
          proc = yield* launch(binary, configFile, finalPort, timeoutMs, logs, watchLog)
        }),
        alive: Effect.sync(() => !proc.exited && pidAlive(proc.pid)),
        logs: Effect.sync(allLogs),
        logText: () => allLogs().join("\n")
      }
      return broker
    })
}

/** Options of {@link mosquittoSub}. */
export interface MosquittoSubOptions {
  readonly port: number
  /** Topic filter (`-t`). */
  readonly topic: string
  /** Number of messages to receive before exiting (`-C`). */
  readonly count: number
  /** Subscription QoS (`-q`). Default 0. */
  readonly qos?: 0 | 1 | 2
  /** Print `topic payload` (`-v`) instead of the bare payload. Default `true`. */
  readonly verbose?: boolean
  /** Client id (`-i`). Default: a random `sub-…` id. */
  readonly clientId?: string
  readonly username?: string
  readonly password?: string
  /** Extra command-line arguments (e.g. `["-c"]` for a persistent session). */
  readonly extraArgs?: ReadonlyArray<string>
  /** How long {@link MosquittoSubHandle.lines} waits for the `count` messages. Default 5000 ms. */
  readonly timeoutMs?: number
}

/** A running `mosquitto_sub`, already subscribed (its SUBACK was received). */
export interface MosquittoSubHandle {
  readonly pid: number
  readonly clientId: string
  /**
   * Waits until `mosquitto_sub` has received its `count` messages and exited, and yields the message lines
   * (`topic payload` with `verbose`, else the payloads). Fails on timeout or a non-zero exit code.
   */
  readonly lines: Effect.Effect<ReadonlyArray<string>, BrokerError>
  /** Message lines received so far (does not wait). */
  readonly received: () => ReadonlyArray<string>
  /** All raw output lines (debug `-d` lines included). */
  readonly output: () => ReadonlyArray<string>
}

/**
 * Spawns `mosquitto_sub -d -h 127.0.0.1 -p P -t T -C N -q Q [-v]` and waits (deterministically) until its debug
 * output shows "received SUBACK", so publishing right after is safe. Fails if it exits first (e.g. refused with
 * CONNACK 5: `exitCode` 5) or nothing within the timeout. Killed by PID when the scope closes.
 */
export const mosquittoSub = (
  options: MosquittoSubOptions
): Effect.Effect<MosquittoSubHandle, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    if (mosquittoSubBinary === undefined) return yield* new BrokerError({ message: MISSING })
    const clientId = options.clientId ?? `sub-${Crypto.randomBytes(6).toString("hex")}`
    const timeoutMs = options.timeoutMs ?? 5000
    const args = [
      "-d",
      "-h",
      HOST,
      "-p",
      String(options.port),
      "-i",
      clientId,
      "-t",
      options.topic,
      "-C",
      String(options.count),
      "-q",
      String(options.qos ?? 0)
    ]
    if (options.verbose ?? true) args.push("-v")
    if (options.username !== undefined) args.push("-u", options.username)
    if (options.password !== undefined) args.push("-P", options.password)
    if (options.extraArgs !== undefined) args.push(...options.extraArgs)
    // stdbuf execs mosquitto_sub: same PID, line-buffered stdout.
    const proc = yield* Effect.acquireRelease(
      stdbufBinary !== undefined
        ? spawnProcess(stdbufBinary, ["-oL", mosquittoSubBinary, ...args])
        : spawnProcess(mosquittoSubBinary, args),
      (p) => stopProcess(p, 500)
    )
    const debugPrefix = `Client ${clientId} `
    const isDebug = (line: string) => line.startsWith(debugPrefix) || line.startsWith("Subscribed (mid:")
    const output = () => [...proc.stdoutLines, ...proc.stderrLines]
    const describeRun = () => `exit code ${String(proc.exitCode)}; output:\n${output().join("\n")}`
    const subscribed = stdbufBinary !== undefined
      ? yield* waitOnProcess(
        proc,
        () => proc.stdoutLines.some((l) => l.startsWith(debugPrefix) && l.includes("received SUBACK")) ? true : undefined,
        timeoutMs
      )
      // without stdbuf the output only comes at exit: fall back to a fixed delay (not deterministic)
      : yield* Effect.as(waitExit(proc, 500), !proc.exited || proc.exitCode === 0)
    if (subscribed !== true) {
      return yield* new BrokerError({
        message: `mosquitto_sub did not subscribe to ${options.topic}: ${describeRun()}`,
        ...(proc.exitCode !== null ? { exitCode: proc.exitCode } : {})
      })
    }
    const received = () => proc.stdoutLines.filter((l) => !isDebug(l))
    const handle: MosquittoSubHandle = {
      pid: proc.pid,
      clientId,
      received,
      output,
      lines: Effect.gen(function*() {
        const exited = yield* waitExit(proc, timeoutMs)
        if (!exited) {
          return yield* new BrokerError({
            message: `mosquitto_sub got ${received().length}/${options.count} messages within ${timeoutMs} ms: ${
              received().join(" | ")
            }`
          })
        }
        if (proc.exitCode !== 0) {
          return yield* new BrokerError({
            message: `mosquitto_sub failed: ${describeRun()}`,
            exitCode: proc.exitCode ?? -1
          })
        }
        return received()
      })
    }
    return handle
  })

/** Options of {@link mosquittoPub}. */
export interface MosquittoPubOptions {
  readonly port: number
  readonly topic: string
  /** Payload (`-m`). Use `""` for an empty payload (`-n` is used then). */
  readonly message: string
  readonly qos?: 0 | 1 | 2
  readonly retain?: boolean
  readonly clientId?: string
  readonly username?: string
  readonly password?: string
  readonly extraArgs?: ReadonlyArray<string>
  /** Default 5000 ms. */
  readonly timeoutMs?: number
}

/**
 * Runs `mosquitto_pub -h 127.0.0.1 -p P -t T -m MSG -q Q [-r]` to completion. Fails with a {@link BrokerError}
 * carrying `exitCode` on a non-zero exit (5 = refused, not authorised). Killed by PID if interrupted.
 */
export const mosquittoPub = (options: MosquittoPubOptions): Effect.Effect<void, BrokerError> =>
  Effect.gen(function*() {
    if (mosquittoPubBinary === undefined) return yield* new BrokerError({ message: MISSING })
    const args = ["-h", HOST, "-p", String(options.port), "-t", options.topic, "-q", String(options.qos ?? 0)]
    if (options.message.length === 0) args.push("-n")
    else args.push("-m", options.message)
    if (options.retain === true) args.push("-r")
    if (options.clientId !== undefined) args.push("-i", options.clientId)
    if (options.username !== undefined) args.push("-u", options.username)
    if (options.password !== undefined) args.push("-P", options.password)
    if (options.extraArgs !== undefined) args.push(...options.extraArgs)
    const proc = yield* runToEnd(mosquittoPubBinary, args, options.timeoutMs ?? 5000)
    if (proc.exitCode !== 0) {
      return yield* new BrokerError({
        message: `mosquitto_pub exited with code ${String(proc.exitCode)}: ${
          [...proc.stdoutLines, ...proc.stderrLines].join("\n")
        }`,
        exitCode: proc.exitCode ?? -1
      })
    }
  })
