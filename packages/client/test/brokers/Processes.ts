/**
 * Processes a broker helper starts, by PID: spawned under a lifetime watchdog with their output in a file,
 * tracked from /proc with their start time (so that a reused PID is never mistaken for ours), stopped and waited
 * for. Nothing is ever signalled by name.
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { BrokerError, findExecutable, signalPid } from "./internal.ts"

/** coreutils `timeout`: the lifetime watchdog of every process (optional). */
const timeoutBinary: string | undefined = findExecutable("timeout")

// ---------------------------------------------------------------------------------------------------------------
// /proc: processes by PID (with their start time, so that a reused PID is never mistaken for ours)

export interface ProcStat {
  readonly pid: number
  readonly ppid: number
  readonly comm: string
  readonly state: string
  readonly start: string
}

export const readStat = (pid: number): ProcStat | undefined => {
  try {
    const text = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const close = text.lastIndexOf(")")
    const comm = text.slice(text.indexOf("(") + 1, close)
    // fields after "(comm)": 3 state, 4 ppid, ..., 22 starttime
    const rest = text.slice(close + 2).split(" ")
    return { pid, ppid: Number(rest[1]), comm, state: rest[0] ?? "?", start: rest[19] ?? "" }
  } catch {
    return undefined
  }
}

const allProcesses = (): Array<ProcStat> => {
  const out: Array<ProcStat> = []
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat !== undefined) out.push(stat)
  }
  return out
}

/** The live descendants of `root` (children, grandchildren, ...), read from /proc. */
export const descendantsOf = (root: number): Array<ProcStat> => {
  const byParent = new Map<number, Array<ProcStat>>()
  for (const p of allProcesses()) {
    const list = byParent.get(p.ppid)
    if (list === undefined) byParent.set(p.ppid, [p])
    else list.push(p)
  }
  const out: Array<ProcStat> = []
  const queue = [root]
  while (queue.length > 0) {
    const pid = queue.shift()!
    for (const child of byParent.get(pid) ?? []) {
      out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}

/** A process we started (or a descendant of one), identified by PID and start time. */
export interface Tracked {
  readonly pid: number
  readonly start: string
  readonly comm: string
}

/** `true` when the tracked process no longer exists (gone, a zombie, or its PID now belongs to another). */
export const isGone = (t: Tracked): boolean => {
  const stat = readStat(t.pid)
  return stat === undefined || stat.state === "Z" || stat.start !== t.start
}

/** Sends a signal to a tracked process, unless its PID is gone or reused. */
export const signalTracked = (t: Tracked, signal: NodeJS.Signals): void => {
  if (!isGone(t)) signalPid(t.pid, signal)
}

/** Waits (polling /proc every 50 ms) until every tracked process is gone; `true` when they all are. */
export const waitGone = (tracked: ReadonlyArray<Tracked>, timeoutMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      if (tracked.every(isGone)) return true
      if (Date.now() >= deadline) return false
      yield* Effect.sleep("50 millis")
    }
  })

/**
 * The PIDs among these that still run (zombies count as exited). For leak checks after a scope closed:
 * `assert.deepStrictEqual(processesAlive(handle.pids()), [])`.
 */
export const processesAlive = (pids: ReadonlyArray<number>): Array<number> =>
  pids.filter((pid) => {
    const stat = readStat(pid)
    return stat !== undefined && stat.state !== "Z"
  })

/** The inodes of the LISTEN sockets on 127.0.0.1:port (from /proc/net/tcp). */
const listenInodes = (port: number): Set<string> => {
  const inodes = new Set<string>()
  let text = ""
  try {
    text = Fs.readFileSync("/proc/net/tcp", "utf8")
  } catch {
    return inodes
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields[1] === local && fields[3] === "0A" && fields[9] !== undefined) inodes.add(fields[9])
  }
  return inodes
}

/**
 * `true` when process `pid` holds the LISTEN socket of 127.0.0.1:port: a TCP probe alone could hit some other
 * process that took the port between our choice and the node's bind.
 */
export const ownsListener = (pid: number, port: number): boolean => {
  const inodes = listenInodes(port)
  if (inodes.size === 0) return false
  try {
    for (const fd of Fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = Fs.readlinkSync(`/proc/${pid}/fd/${fd}`)
        const match = /^socket:\[(\d+)\]$/.exec(target)
        if (match !== null && inodes.has(match[1]!)) return true
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    // process gone
  }
  return false
}

// ---------------------------------------------------------------------------------------------------------------
// launched processes and their output

export const tail = (text: string, lines: number): string => text.split("\n").slice(-lines).join("\n")

export const readText = (file: string): string => {
  try {
    return Fs.readFileSync(file, "utf8")
  } catch {
    return ""
  }
}

/**
 * The uid/gid a program is spawned with (spawn's `uid`/`gid`), e.g. a system user the program insists on; `{}`
 * runs it as ourselves.
 */
export interface SpawnIdentity {
  readonly uid?: number
  readonly gid?: number
}

/** A spawned launcher (`timeout … PROGRAM`), its output going to a file. */
export interface Launched {
  readonly child: ChildProcess.ChildProcess
  readonly tracked: Tracked
  exited: boolean
  exitCode: number | null
  exitSignal: NodeJS.Signals | null
}

export const launch = (
  command: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  outputFile: string,
  lifetimeSeconds: number,
  cwd: string,
  spawnAs: SpawnIdentity = {}
): Effect.Effect<Launched, BrokerError> =>
  Effect.try({
    try: () => {
      const [program, programArgs] = timeoutBinary !== undefined
        ? [timeoutBinary, ["-k", "10", String(lifetimeSeconds), command, ...args]]
        : [command, [...args]]
      const fd = Fs.openSync(outputFile, "a")
      let child: ChildProcess.ChildProcess
      try {
        child = ChildProcess.spawn(program, programArgs, { env, cwd, stdio: ["ignore", fd, fd], ...spawnAs })
      } finally {
        Fs.closeSync(fd)
      }
      if (child.pid === undefined) throw new Error(`cannot spawn ${program}`)
      const stat = readStat(child.pid)
      const launched: Launched = {
        child,
        tracked: { pid: child.pid, start: stat?.start ?? "", comm: stat?.comm ?? Path.basename(program) },
        exited: false,
        exitCode: null,
        exitSignal: null
      }
      child.once("error", () => {
        // reported through the exit
      })
      child.once("exit", (code, signal) => {
        launched.exited = true
        launched.exitCode = code
        launched.exitSignal = signal
      })
      return launched
    },
    catch: (cause) => new BrokerError({ message: `cannot start ${Path.basename(command)}: ${String(cause)}`, cause })
  })

/** The processes of one launcher: everything ever seen under it, updated from /proc on demand. */
export class ProcessSet {
  readonly seen: Array<Tracked> = []
  private readonly keys = new Set<string>()

  add(t: Tracked): void {
    const key = `${t.pid}/${t.start}`
    if (this.keys.has(key)) return
    this.keys.add(key)
    this.seen.push(t)
  }

  /** Adds the live descendants of `root` (call before signalling, so children are waited for too). */
  refresh(root: Launched | undefined): void {
    if (root === undefined || root.exited) return
    for (const p of descendantsOf(root.tracked.pid)) {
      if (p.state !== "Z") this.add({ pid: p.pid, start: p.start, comm: p.comm })
    }
  }

  live(): Array<Tracked> {
    return this.seen.filter((t) => !isGone(t))
  }

  /** A live process of the set whose current name is `comm` (read again: a fresh child may not have exec'd yet). */
  findLive(comm: string): Tracked | undefined {
    return this.live().find((t) => readStat(t.pid)?.comm === comm)
  }

  pids(): Array<number> {
    return this.seen.map((t) => t.pid)
  }
}

/**
 * Stops a launcher and everything under it by PID: SIGCONT (a frozen beam must see the SIGTERM), SIGTERM to
 * `sigtermTo()` (by default the launcher while it runs: `timeout` forwards it; the `rabbitmq-server` shell stops
 * the beam) or, when that is `undefined`, to every live process; SIGKILL to every process still there after
 * `graceMs`; waits. `true` when all of them are gone.
 */
export const stopLaunched = (
  launched: Launched | undefined,
  set: ProcessSet,
  graceMs: number,
  sigtermTo: () => Tracked | undefined = () => launched !== undefined && !launched.exited ? launched.tracked : undefined
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    set.refresh(launched)
    const live = set.live()
    if (live.length === 0) return true
    for (const t of live) signalTracked(t, "SIGCONT")
    const target = sigtermTo()
    if (target !== undefined) signalTracked(target, "SIGTERM")
    else for (const t of live) signalTracked(t, "SIGTERM")
    if (yield* waitGone(live, graceMs)) return true
    set.refresh(launched)
    for (const t of set.live()) signalTracked(t, "SIGKILL")
    return yield* waitGone(set.live(), 5000)
  })

/**
 * A fresh temp dir `$TMPDIR/PREFIX…` for the processes of a helper. Its finalizer (register it first, so that it
 * runs last) removes it only when `allGone()`: a dir removed under a running broker can make its shutdown hang
 * and fail; otherwise it is left in place with a warning.
 */
export const makeTempDir = (prefix: string, broker: string, allGone: () => boolean) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix)),
      catch: (cause) => new BrokerError({ message: `cannot create the ${broker} temp dir`, cause })
    }),
    (dir) =>
      Effect.sync(() => {
        if (allGone()) Fs.rmSync(dir, { recursive: true, force: true })
        else console.warn(`${broker} helper: processes still alive, temp dir ${dir} left in place`)
      })
  )

// ---------------------------------------------------------------------------------------------------------------
// one-shot commands (a broker's ctl CLI), bounded in time

/** Options of {@link runBounded}. */
export interface RunBoundedOptions {
  /** How the command is named in errors, e.g. `rabbitmqctl -n r1@localhost status`. */
  readonly label: string
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
  readonly timeoutMs: number
  readonly spawnAs?: SpawnIdentity | undefined
}

/**
 * Runs `program ARGS` (no shell) and yields its stdout; a non-zero exit fails with `exitCode` and the output.
 * On timeout or interruption its whole process tree (the program and its descendants, e.g. an Erlang CLI's
 * beam and port programs) is SIGKILLed by PID.
 */
export const runBounded = (
  program: string,
  args: ReadonlyArray<string>,
  options: RunBoundedOptions
): Effect.Effect<string, BrokerError> =>
  Effect.callback<string, BrokerError>((resume) => {
    const { label, timeoutMs } = options
    const child = ChildProcess.spawn(program, [...args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      ...options.spawnAs
    })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    child.stdout?.on("data", (b: Buffer) => stdout.push(b))
    child.stderr?.on("data", (b: Buffer) => stderr.push(b))
    let done = false
    const killTree = () => {
      if (child.pid === undefined) return
      const root = readStat(child.pid)
      const tree = [
        ...(root === undefined ? [] : [root]),
        ...descendantsOf(child.pid)
      ]
      for (const p of tree) signalTracked(p, "SIGKILL")
    }
    const output = () => `${Buffer.concat(stdout).toString("utf8")}${Buffer.concat(stderr).toString("utf8")}`.trim()
    const timer = setTimeout(() => {
      if (done) return
      done = true
      killTree()
      resume(Effect.fail(new BrokerError({ message: `${label} did not finish within ${timeoutMs} ms: ${output()}` })))
    }, timeoutMs)
    child.once("error", (cause) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(Effect.fail(new BrokerError({ message: `cannot run ${label}: ${String(cause)}`, cause })))
    })
    child.once("close", (code) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (code === 0) resume(Effect.succeed(Buffer.concat(stdout).toString("utf8")))
      else {
        const message = `${label} exited with code ${String(code)}: ${output()}`
        resume(Effect.fail(new BrokerError({ message, exitCode: code ?? -1 })))
      }
    })
    return Effect.sync(() => {
      if (done) return
      done = true
      clearTimeout(timer)
      killTree()
    })
  })
