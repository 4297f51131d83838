/**
 * Real RabbitMQ 3.10 brokers (with the `rabbitmq_mqtt` plugin) for interop and cluster tests: a single node, or
 * a 3-node cluster, all on 127.0.0.1 (recipes: ../shared/BROKERS-CLUSTER.md §1–§2).
 *
 * - Every node runs in the foreground, in a fresh temp dir (HOME with its own cookie, mnesia, logs, config), with
 *   every listener (AMQP, MQTT, Erlang distribution) on a free 127.0.0.1 port.
 * - Every single node or cluster runs its own `epmd` on a free loopback port (`ERL_EPMD_PORT`), so two test files
 *   can use RabbitMQ at once, and a system RabbitMQ on the default ports (5672, 1883, 4369) is not in the way.
 * - The real scripts in `/usr/lib/rabbitmq/bin/` are called (the `/usr/sbin` wrappers `su` to user `rabbitmq`).
 * - On scope close every process started (nodes and their children, epmd) is stopped by PID (SIGTERM, SIGKILL
 *   after a bound) and waited for; only then is the temp dir removed. Nothing is ever killed by name.
 * - As a last resort (a test process killed with SIGKILL, so no finalizer runs), every node and epmd runs under
 *   coreutils `timeout`, which stops it after {@link RabbitMQOptions.lifetimeSeconds}.
 *
 * MQTT 3.1.1 only (RabbitMQ 3.10 closes MQTT 5 connections); guest/guest works from 127.0.0.1 and anonymous
 * connections are logged in as guest.
 */
import { describe, it } from "@effect/vitest"
import { Context, Effect, Layer, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { BrokerError, findExecutable, HOST, signalPid, tcpProbe } from "./internal.ts"
import { isCI } from "./Mosquitto.ts"

/** Where the Debian package puts the real scripts (not the `su rabbitmq` wrappers of /usr/sbin). */
const RABBITMQ_BIN_DIR = "/usr/lib/rabbitmq/bin"

const executableAt = (path: string): string | undefined => {
  try {
    Fs.accessSync(path, Fs.constants.X_OK)
    return Fs.statSync(path).isFile() ? path : undefined
  } catch {
    return undefined
  }
}

/** `/usr/lib/rabbitmq/bin/rabbitmq-server`, or `undefined` when RabbitMQ is not installed. */
export const rabbitmqServerBinary: string | undefined = executableAt(Path.join(RABBITMQ_BIN_DIR, "rabbitmq-server"))
/** `/usr/lib/rabbitmq/bin/rabbitmqctl`, or `undefined`. */
export const rabbitmqctlBinary: string | undefined = executableAt(Path.join(RABBITMQ_BIN_DIR, "rabbitmqctl"))
/** Erlang's `epmd` (a dependency of the package), or `undefined`. */
export const epmdBinary: string | undefined = findExecutable("epmd")
/** coreutils `timeout`: the lifetime watchdog of every process (optional). */
const timeoutBinary: string | undefined = findExecutable("timeout")

/** `true` when `rabbitmq-server`, `rabbitmqctl` (in /usr/lib/rabbitmq/bin) and `epmd` are installed. */
export const rabbitmqAvailable: boolean = rabbitmqServerBinary !== undefined && rabbitmqctlBinary !== undefined &&
  epmdBinary !== undefined

const MISSING = "rabbitmq-server is required under CI (install: apt-get install -y rabbitmq-server)"

/**
 * `describe` for tests that need RabbitMQ. When it is missing: under CI (`CI=true`) the block holds a single
 * failing test "rabbitmq-server is required under CI"; otherwise the block is skipped with a loud console warning.
 */
export const describeRabbitMQ = (name: string, fn: () => void): void => {
  if (rabbitmqAvailable) {
    describe(name, fn)
  } else if (isCI) {
    describe(name, () => {
      it.effect("rabbitmq-server is required under CI", () => requireRabbitMQ)
    })
  } else {
    console.warn(
      `\n!!!!!!!! SKIPPING "${name}": rabbitmq-server not installed. ` +
        `Install with: apt-get install -y rabbitmq-server !!!!!!!!\n`
    )
    describe.skip(name, fn)
  }
}

/** Effect guard for a single test: fails with {@link BrokerError} when RabbitMQ is missing. */
export const requireRabbitMQ: Effect.Effect<void, BrokerError> = Effect.suspend(() =>
  rabbitmqAvailable ? Effect.void : Effect.fail(new BrokerError({ message: MISSING }))
)

/** Options of {@link RabbitMQ.start} and {@link RabbitMQ.cluster}. */
export interface RabbitMQOptions {
  /**
   * Bound of each startup wait: a node's MQTT port accepting after (re)start, and the cluster's join.
   * Default 60 000 ms (a cold start of 3 nodes in parallel takes ~15 s on 2 cores).
   */
  readonly startTimeoutMs?: number
  /** Default bound of {@link RabbitMQNode.ctl}. Default 30 000 ms. */
  readonly ctlTimeoutMs?: number
  /** How long a graceful stop (SIGTERM) may take before SIGKILL. Default 20 000 ms (it takes ~3 s). */
  readonly stopTimeoutMs?: number
  /**
   * Watchdog: every node and epmd runs under `timeout -k 10 N`, so that it stops by itself even if the test
   * process dies without closing its scope. Default 1800 s.
   */
  readonly lifetimeSeconds?: number
  /** Extra `rabbitmq.conf` lines (new-style `key = value`), appended verbatim. */
  readonly extraConfig?: string
}

/** Signals {@link RabbitMQNode.kill} sends to the node's `beam.smp`. */
export type RabbitMQSignal = "SIGKILL" | "SIGTERM" | "SIGSTOP" | "SIGCONT"

/** A running RabbitMQ node, owned by the scope of {@link RabbitMQ.start} or {@link RabbitMQ.cluster}. */
export interface RabbitMQNode {
  /** Short name: `r1`, `r2`, `r3`. */
  readonly name: string
  /** Erlang node name, e.g. `r1@localhost`. */
  readonly nodeName: string
  /** Always `"127.0.0.1"`. */
  readonly host: string
  /** The MQTT port (stable across {@link RabbitMQNode.restart}). */
  readonly port: number
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string
  /** The AMQP 0-9-1 port. */
  readonly amqpPort: number
  /** The Erlang distribution port. */
  readonly distPort: number
  /** The port of the epmd this node registers with (shared by the nodes of a cluster). */
  readonly epmdPort: number
  /** The node's dir (home, mnesia, log, config). Removed on scope close, after every process exited. */
  readonly dir: string
  /** The PID of the current launcher (`timeout` → `sh rabbitmq-server` → `beam.smp`). */
  readonly pid: number
  /** The PID of the current `beam.smp` (a grandchild of the launcher); fails when there is none. */
  readonly beamPid: Effect.Effect<number, BrokerError>
  /**
   * Every PID this node's handle has seen (launchers, their shells, `beam.smp`, its port programs) plus the
   * epmd it uses. After the scope closed, none of them is alive; see {@link processesAlive}.
   */
  readonly pids: () => ReadonlyArray<number>
  /** `true` while the launcher and its `beam.smp` run (also when the node's app is stopped by `stop_app`). */
  readonly alive: Effect.Effect<boolean>
  /**
   * Runs `rabbitmqctl -n NODE ARGS` with the node's environment (cookie, epmd port), bounded by
   * `timeoutMs` (default {@link RabbitMQOptions.ctlTimeoutMs}); yields its stdout. A non-zero exit or the
   * timeout fails with a {@link BrokerError} carrying the output (and `exitCode`). Each call takes ~0.3–2 s.
   */
  readonly ctl: (args: ReadonlyArray<string>, options?: { readonly timeoutMs?: number }) => Effect.Effect<string, BrokerError>
  /**
   * Sends a signal to the current `beam.smp` by PID. SIGKILL is a crash: waits until the beam, its launcher
   * and their children have exited (the launcher exits by itself). SIGTERM is a graceful stop (waited for
   * too). SIGSTOP/SIGCONT freeze and thaw the node without waiting.
   */
  readonly kill: (signal: RabbitMQSignal) => Effect.Effect<void, BrokerError>
  /** Graceful stop by PID (SIGTERM to the launcher, SIGKILL after the bound), waited for. */
  readonly stop: Effect.Effect<void>
  /**
   * Starts the node again, same ports and data dir (stopping it first if it still runs), and waits until its
   * MQTT port accepts. A cluster node rejoins the cluster by itself.
   */
  readonly restart: Effect.Effect<void, BrokerError>
  /** The node's log files (`NODE.log`, `NODE_upgrade.log`) and the launcher's stdout/stderr, as one text. */
  readonly logText: () => string
}

/** A 3-node cluster: `r2` and `r3` joined to `r1`. */
export interface RabbitMQClusterHandle {
  readonly nodes: readonly [RabbitMQNode, RabbitMQNode, RabbitMQNode]
  /** The nodes' MQTT URLs, in node order. */
  readonly urls: readonly [string, string, string]
  /** The port of the cluster's own epmd. */
  readonly epmdPort: number
  /** The temp dir of the whole cluster (one subdir per node). */
  readonly dir: string
  /** Every PID seen: the nodes' (see {@link RabbitMQNode.pids}) and the epmd's. */
  readonly pids: () => ReadonlyArray<number>
}

// ---------------------------------------------------------------------------------------------------------------
// /proc: processes by PID (with their start time, so that a reused PID is never mistaken for ours)

interface ProcStat {
  readonly pid: number
  readonly ppid: number
  readonly comm: string
  readonly state: string
  readonly start: string
}

const readStat = (pid: number): ProcStat | undefined => {
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
const descendantsOf = (root: number): Array<ProcStat> => {
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
interface Tracked {
  readonly pid: number
  readonly start: string
  readonly comm: string
}

/** `true` when the tracked process no longer exists (gone, a zombie, or its PID now belongs to another). */
const isGone = (t: Tracked): boolean => {
  const stat = readStat(t.pid)
  return stat === undefined || stat.state === "Z" || stat.start !== t.start
}

/** Sends a signal to a tracked process, unless its PID is gone or reused. */
const signalTracked = (t: Tracked, signal: NodeJS.Signals): void => {
  if (!isGone(t)) signalPid(t.pid, signal)
}

/** Waits (polling /proc every 50 ms) until every tracked process is gone; `true` when they all are. */
const waitGone = (tracked: ReadonlyArray<Tracked>, timeoutMs: number): Effect.Effect<boolean> =>
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
const ownsListener = (pid: number, port: number): boolean => {
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
// ports, files, processes

/** `n` distinct free ports on 127.0.0.1 (all probe servers are open at once, so no port comes twice). */
const freePorts = (n: number): Effect.Effect<Array<number>, BrokerError> =>
  Effect.callback<Array<number>, BrokerError>((resume) => {
    const servers: Array<Net.Server> = []
    const ports: Array<number> = []
    let failed = false
    const closeAll = (then: () => void) => {
      let open = servers.length
      if (open === 0) return then()
      for (const s of servers) {
        s.close(() => {
          open -= 1
          if (open === 0) then()
        })
      }
    }
    for (let i = 0; i < n; i++) {
      const server = Net.createServer()
      servers.push(server)
      server.once("error", (cause) => {
        if (failed) return
        failed = true
        closeAll(() => resume(Effect.fail(new BrokerError({ message: "cannot pick free ports", cause }))))
      })
      server.listen(0, HOST, () => {
        const address = server.address()
        ports.push(typeof address === "object" && address !== null ? address.port : 0)
        if (ports.length === n && !failed) closeAll(() => resume(Effect.succeed(ports)))
      })
    }
  })

const tail = (text: string, lines: number): string => text.split("\n").slice(-lines).join("\n")

const readText = (file: string): string => {
  try {
    return Fs.readFileSync(file, "utf8")
  } catch {
    return ""
  }
}

/** A spawned launcher (`timeout … PROGRAM`), its output going to a file. */
interface Launched {
  readonly child: ChildProcess.ChildProcess
  readonly tracked: Tracked
  exited: boolean
  exitCode: number | null
  exitSignal: NodeJS.Signals | null
}

const launch = (
  command: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  outputFile: string,
  lifetimeSeconds: number,
  cwd: string
): Effect.Effect<Launched, BrokerError> =>
  Effect.try({
    try: () => {
      const [program, programArgs] = timeoutBinary !== undefined
        ? [timeoutBinary, ["-k", "10", String(lifetimeSeconds), command, ...args]]
        : [command, [...args]]
      const fd = Fs.openSync(outputFile, "a")
      let child: ChildProcess.ChildProcess
      try {
        child = ChildProcess.spawn(program, programArgs, { env, cwd, stdio: ["ignore", fd, fd] })
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
class ProcessSet {
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
 * the launcher (`timeout` forwards it; the `rabbitmq-server` shell stops the beam), SIGKILL to every process
 * still there after `graceMs`; waits. `true` when all of them are gone.
 */
const stopLaunched = (launched: Launched | undefined, set: ProcessSet, graceMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    set.refresh(launched)
    const live = set.live()
    if (live.length === 0) return true
    for (const t of live) signalTracked(t, "SIGCONT")
    if (launched !== undefined && !launched.exited) signalTracked(launched.tracked, "SIGTERM")
    else for (const t of live) signalTracked(t, "SIGTERM")
    if (yield* waitGone(live, graceMs)) return true
    set.refresh(launched)
    for (const t of set.live()) signalTracked(t, "SIGKILL")
    return yield* waitGone(set.live(), 5000)
  })

// ---------------------------------------------------------------------------------------------------------------
// epmd and nodes

/** What the nodes of one `start`/`cluster` share: the temp dir, the cookie and the epmd. */
interface Infra {
  readonly base: string
  readonly cookie: string
  readonly epmdPort: number
  readonly epmd: ProcessSet
  readonly epmdProcess: Launched
  readonly options: Required<Omit<RabbitMQOptions, "extraConfig">> & { readonly extraConfig: string }
  /** Set once the scope started closing: no more ctl calls or (re)starts, their epmd is going away. */
  closing: boolean
}

const resolveOptions = (options: RabbitMQOptions): Infra["options"] => ({
  startTimeoutMs: options.startTimeoutMs ?? 60_000,
  ctlTimeoutMs: options.ctlTimeoutMs ?? 30_000,
  stopTimeoutMs: options.stopTimeoutMs ?? 20_000,
  lifetimeSeconds: options.lifetimeSeconds ?? 1800,
  extraConfig: options.extraConfig ?? ""
})

const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8"
})

/**
 * The temp dir of a single node or cluster. Its finalizer (the first one registered, so it runs last) removes it
 * only when `allGone()`: a data dir removed under a running node makes its shutdown hang (~10 s) and fail.
 */
const makeBaseDir = (allGone: () => boolean) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-rabbitmq-")),
      catch: (cause) => new BrokerError({ message: "cannot create the RabbitMQ temp dir", cause })
    }),
    (dir) =>
      Effect.sync(() => {
        if (allGone()) Fs.rmSync(dir, { recursive: true, force: true })
        else console.warn(`RabbitMQ helper: processes still alive, temp dir ${dir} left in place`)
      })
  )

/**
 * Starts `epmd -address 127.0.0.1 -port P` in the foreground (we hold its PID; without it, erl would start a
 * daemonised epmd on 0.0.0.0:4369) and waits until it listens. Retries on another port if it exits.
 */
const startEpmd = (
  base: string,
  options: Infra["options"],
  registerFinalizer: (set: ProcessSet, current: () => Launched | undefined) => Effect.Effect<void, never, Scope.Scope>
): Effect.Effect<{ port: number; set: ProcessSet; process: Launched }, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    const set = new ProcessSet()
    let current: Launched | undefined
    yield* registerFinalizer(set, () => current)
    const logFile = Path.join(base, "epmd.log")
    for (let attempt = 1; ; attempt++) {
      const [port] = yield* freePorts(1)
      current = yield* launch(epmdBinary!, ["-address", HOST, "-port", String(port)], baseEnv(), logFile, options.lifetimeSeconds + 60, base)
      set.add(current.tracked)
      const deadline = Date.now() + 10_000
      let ready = false
      while (!ready && !current.exited && Date.now() < deadline) {
        set.refresh(current)
        const epmd = set.findLive("epmd")
        ready = epmd !== undefined && ownsListener(epmd.pid, port!) && (yield* tcpProbe(port!, 500))
        if (!ready) yield* Effect.sleep("50 millis")
      }
      if (ready) return { port: port!, set, process: current }
      yield* stopLaunched(current, set, 2000)
      if (attempt >= 3) {
        return yield* new BrokerError({ message: `epmd did not listen on 127.0.0.1:${port}:\n${tail(readText(logFile), 20)}` })
      }
    }
  })

interface NodePorts {
  readonly mqtt: number
  readonly amqp: number
  readonly dist: number
}

/** Mutable state of one node: its ports, dir, current launcher and every process seen. */
interface NodeState {
  readonly name: string
  readonly nodeName: string
  readonly dir: string
  ports: NodePorts
  launcher: Launched | undefined
  readonly processes: ProcessSet
  /** Sizes of the node's log and stdout file when the current launcher started (errors show what came after). */
  logOffset: number
  stdoutOffset: number
}

const logFileOf = (state: NodeState) => Path.join(state.dir, "log", `${state.nodeName}.log`)
const stdoutFileOf = (state: NodeState) => Path.join(state.dir, "stdout.log")

const nodeEnv = (state: NodeState, infra: Infra): Record<string, string> => {
  const d = state.dir
  const erlArgs = `-kernel inet_dist_use_interface {127,0,0,1}`
  return {
    ...baseEnv(),
    HOME: Path.join(d, "home"), // the cookie is $HOME/.erlang.cookie, for the server and the CLI
    ERL_EPMD_PORT: String(infra.epmdPort),
    ERL_EPMD_ADDRESS: HOST,
    // No erl of this env (the server, rabbit's epmd-starter, the CLI) may start a daemonised epmd of its own,
    // one whose PID we do not hold (it would outlive the test): without our epmd they fail instead.
    ERL_AFLAGS: "-start_epmd false",
    // A node that fails early writes erl_crash.dump to its cwd: keep it in the node's dir, not the repo.
    ERL_CRASH_DUMP: Path.join(d, "erl_crash.dump"),
    RABBITMQ_NODENAME: state.nodeName,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(state.ports.amqp),
    RABBITMQ_DIST_PORT: String(state.ports.dist),
    RABBITMQ_MNESIA_BASE: Path.join(d, "mnesia"),
    RABBITMQ_LOG_BASE: Path.join(d, "log"),
    RABBITMQ_ENABLED_PLUGINS_FILE: Path.join(d, "enabled_plugins"),
    RABBITMQ_CONFIG_FILE: Path.join(d, "rabbitmq.conf"),
    RABBITMQ_CONF_ENV_FILE: Path.join(d, "rabbitmq-env.conf"), // empty: ignores /etc/rabbitmq/rabbitmq-env.conf
    RABBITMQ_ADVANCED_CONFIG_FILE: Path.join(d, "advanced.config"),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: erlArgs,
    RABBITMQ_CTL_ERL_ARGS: erlArgs,
    // The CLI's own distribution listener: any free port (default: the shared range 35672-35682).
    RABBITMQ_CTL_DIST_PORT_MIN: "0",
    RABBITMQ_CTL_DIST_PORT_MAX: "0"
  }
}

const buildConfig = (ports: NodePorts, extraConfig: string): string =>
  [
    `listeners.tcp.default = ${HOST}:${ports.amqp}`,
    `mqtt.listeners.tcp.default = ${HOST}:${ports.mqtt}`,
    // guest/guest from 127.0.0.1 (by default guest may only log in from "localhost" via the loopback check)
    "loopback_users = none",
    // anonymous MQTT connections log in as guest
    "mqtt.allow_anonymous = true",
    "mqtt.default_user = guest",
    "mqtt.default_pass = guest",
    ...(extraConfig.length > 0 ? [extraConfig] : [])
  ].join("\n") + "\n"

const writeNodeFiles = (state: NodeState, infra: Infra): Effect.Effect<void, BrokerError> =>
  Effect.try({
    try: () => {
      const d = state.dir
      for (const sub of ["home", "mnesia", "log"]) Fs.mkdirSync(Path.join(d, sub), { recursive: true })
      const cookie = Path.join(d, "home", ".erlang.cookie")
      if (!Fs.existsSync(cookie)) Fs.writeFileSync(cookie, infra.cookie, { mode: 0o400 })
      Fs.writeFileSync(Path.join(d, "enabled_plugins"), "[rabbitmq_mqtt].\n")
      Fs.writeFileSync(Path.join(d, "rabbitmq-env.conf"), "")
      Fs.writeFileSync(Path.join(d, "rabbitmq.conf"), buildConfig(state.ports, infra.options.extraConfig))
    },
    catch: (cause) => new BrokerError({ message: `cannot write the files of ${state.nodeName}`, cause })
  })

const findBeam = (state: NodeState): Tracked | undefined => {
  state.processes.refresh(state.launcher)
  return state.processes.findLive("beam.smp")
}

/** What the current launcher wrote: the node's log and its stdout/stderr (rabbit prints boot failures there). */
const outputSinceLaunch = (state: NodeState): { log: string; stdout: string } => ({
  log: readText(logFileOf(state)).slice(state.logOffset),
  stdout: readText(stdoutFileOf(state)).slice(state.stdoutOffset)
})

/** The tails of the node's log and stdout, plus the first error lines of the stdout (the reason is often there). */
const failureText = (state: NodeState): string => {
  const { log, stdout } = outputSinceLaunch(state)
  const errors = stdout.split("\n").filter((l) => /\[error\]|error:|BOOT FAILED|failed/i.test(l)).slice(0, 12)
  return [
    `--- ${state.nodeName} log (tail) ---`,
    tail(log, 40),
    `--- ${state.nodeName} stdout/stderr: first error lines ---`,
    ...errors,
    `--- ${state.nodeName} stdout/stderr (tail) ---`,
    tail(stdout, 20)
  ].join("\n")
}

/** Waits until the node's beam holds the MQTT listener and it accepts a TCP connection. */
const awaitMqtt = (
  state: NodeState,
  timeoutMs: number,
  what: string
): Effect.Effect<void, BrokerError> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const launcher = state.launcher
      if (launcher === undefined || launcher.exited) {
        return yield* new BrokerError({
          message: `${state.nodeName} exited (code ${String(launcher?.exitCode)}, signal ${
            String(launcher?.exitSignal)
          }) before accepting MQTT on port ${state.ports.mqtt} (${what})\n${failureText(state)}`,
          exitCode: launcher?.exitCode ?? -1
        })
      }
      const beam = findBeam(state)
      if (beam !== undefined && ownsListener(beam.pid, state.ports.mqtt) && (yield* tcpProbe(state.ports.mqtt, 1000))) return
      if (Date.now() >= deadline) {
        return yield* new BrokerError({
          message: `${state.nodeName} did not accept MQTT on port ${state.ports.mqtt} within ${timeoutMs} ms (${what})\n${
            failureText(state)
          }`
        })
      }
      yield* Effect.sleep("100 millis")
    }
  })

const requireEpmd = (infra: Infra, what: string): Effect.Effect<void, BrokerError> =>
  Effect.suspend(() => {
    if (infra.closing) return Effect.fail(new BrokerError({ message: `${what}: the RabbitMQ scope is closed` }))
    if (infra.epmdProcess.exited || infra.epmd.live().length === 0) {
      return Effect.fail(new BrokerError({ message: `${what}: the helper's epmd is not running` }))
    }
    return Effect.void
  })

/** Spawns the node's launcher (same env, ports and dir every time) and waits until MQTT accepts. */
const bootNode = (state: NodeState, infra: Infra, what: string): Effect.Effect<void, BrokerError> =>
  Effect.gen(function*() {
    yield* requireEpmd(infra, `starting ${state.nodeName}`)
    state.logOffset = readText(logFileOf(state)).length
    state.stdoutOffset = readText(stdoutFileOf(state)).length
    state.launcher = yield* launch(
      rabbitmqServerBinary!,
      [],
      nodeEnv(state, infra),
      stdoutFileOf(state),
      infra.options.lifetimeSeconds,
      state.dir
    )
    state.processes.add(state.launcher.tracked)
    const result = yield* Effect.result(awaitMqtt(state, infra.options.startTimeoutMs, what))
    if (result._tag === "Failure") {
      yield* stopLaunched(state.launcher, state.processes, 2000)
      return yield* result.failure
    }
  })

/** A port taken between our choice and the node's bind: a listener's `eaddrinuse`, or the distribution port. */
const PORT_TAKEN = /eaddrinuse|dist_port_already_used|port \d+ in use|already in use/i

/**
 * First start of a node on fresh ports. If the node fails because one of its ports was taken meanwhile (by
 * another test file, say), it is retried twice on new ports with a wiped dir (it has exited, so that is safe).
 */
const firstBoot = (state: NodeState, infra: Infra): Effect.Effect<void, BrokerError> =>
  Effect.gen(function*() {
    for (let attempt = 1; ; attempt++) {
      yield* writeNodeFiles(state, infra)
      const result = yield* Effect.result(bootNode(state, infra, "first start"))
      if (result._tag === "Success") return
      const { log, stdout } = outputSinceLaunch(state)
      const portTaken = PORT_TAKEN.test(log) || PORT_TAKEN.test(stdout)
      if (!portTaken || state.processes.live().length > 0 || attempt >= 3) return yield* result.failure
      Fs.rmSync(state.dir, { recursive: true, force: true })
      const [mqtt, amqp, dist] = yield* freePorts(3)
      state.ports = { mqtt: mqtt!, amqp: amqp!, dist: dist! }
    }
  })

const runCtl = (
  state: NodeState,
  infra: Infra,
  args: ReadonlyArray<string>,
  timeoutMs: number
): Effect.Effect<string, BrokerError> =>
  Effect.flatMap(requireEpmd(infra, `rabbitmqctl ${args.join(" ")}`), () =>
    Effect.callback<string, BrokerError>((resume) => {
      const command = `rabbitmqctl -n ${state.nodeName} ${args.join(" ")}`
      const child = ChildProcess.spawn(rabbitmqctlBinary!, ["-n", state.nodeName, ...args], {
        env: nodeEnv(state, infra),
        cwd: state.dir,
        stdio: ["ignore", "pipe", "pipe"]
      })
      const stdout: Array<Buffer> = []
      const stderr: Array<Buffer> = []
      child.stdout?.on("data", (b: Buffer) => stdout.push(b))
      child.stderr?.on("data", (b: Buffer) => stderr.push(b))
      let done = false
      // the CLI is `exec erl …`: one PID (the beam) with port programs under it
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
        resume(Effect.fail(new BrokerError({ message: `${command} did not finish within ${timeoutMs} ms: ${output()}` })))
      }, timeoutMs)
      child.once("error", (cause) => {
        if (done) return
        done = true
        clearTimeout(timer)
        resume(Effect.fail(new BrokerError({ message: `cannot run ${command}: ${String(cause)}`, cause })))
      })
      child.once("close", (code) => {
        if (done) return
        done = true
        clearTimeout(timer)
        if (code === 0) resume(Effect.succeed(Buffer.concat(stdout).toString("utf8")))
        else {
          resume(Effect.fail(new BrokerError({ message: `${command} exited with code ${String(code)}: ${output()}`, exitCode: code ?? -1 })))
        }
      })
      return Effect.sync(() => {
        if (done) return
        done = true
        clearTimeout(timer)
        killTree()
      })
    }))

const makeNodeHandle = (state: NodeState, infra: Infra): RabbitMQNode => {
  const stop = Effect.suspend(() => stopLaunched(state.launcher, state.processes, infra.options.stopTimeoutMs))
  return {
    name: state.name,
    nodeName: state.nodeName,
    host: HOST,
    get port() {
      return state.ports.mqtt
    },
    get url() {
      return `mqtt://${HOST}:${state.ports.mqtt}`
    },
    get amqpPort() {
      return state.ports.amqp
    },
    get distPort() {
      return state.ports.dist
    },
    epmdPort: infra.epmdPort,
    dir: state.dir,
    get pid() {
      return state.launcher?.tracked.pid ?? -1
    },
    beamPid: Effect.suspend(() => {
      const beam = findBeam(state)
      return beam === undefined
        ? Effect.fail(new BrokerError({ message: `${state.nodeName} has no running beam.smp` }))
        : Effect.succeed(beam.pid)
    }),
    pids: () => [...state.processes.pids(), ...infra.epmd.pids()],
    alive: Effect.sync(() => state.launcher !== undefined && !state.launcher.exited && findBeam(state) !== undefined),
    ctl: (args, options) => runCtl(state, infra, args, options?.timeoutMs ?? infra.options.ctlTimeoutMs),
    kill: (signal) =>
      Effect.gen(function*() {
        const beam = findBeam(state)
        if (beam === undefined) return yield* new BrokerError({ message: `${state.nodeName} has no running beam.smp to ${signal}` })
        state.processes.refresh(state.launcher)
        const before = state.processes.live()
        signalTracked(beam, signal)
        if (signal === "SIGKILL" || signal === "SIGTERM") {
          // SIGKILL: the shell's `wait` returns, it and `timeout` exit; the port programs see EOF and exit.
          const bound = signal === "SIGKILL" ? 10_000 : infra.options.stopTimeoutMs
          if (!(yield* waitGone(before, bound))) {
            return yield* new BrokerError({
              message: `${state.nodeName}: processes still alive ${bound} ms after ${signal} of beam ${beam.pid}: ${
                state.processes.live().map((t) => `${t.pid}(${t.comm})`).join(", ")
              }`
            })
          }
        }
      }),
    stop: Effect.asVoid(stop),
    restart: Effect.gen(function*() {
      yield* stopLaunched(state.launcher, state.processes, infra.options.stopTimeoutMs)
      yield* bootNode(state, infra, "restart")
    }),
    logText: () => {
      const logDir = Path.join(state.dir, "log")
      let files: Array<string> = []
      try {
        files = Fs.readdirSync(logDir).filter((f) => f.endsWith(".log")).sort()
      } catch {
        // no log yet
      }
      return [...files.map((f) => Path.join(logDir, f)), stdoutFileOf(state)]
        .map((file) => `--- ${Path.basename(file)} ---\n${readText(file)}`)
        .join("\n")
    }
  }
}

/**
 * Sets up the shared part (temp dir, cookie, epmd) and registers one finalizer that stops all nodes in parallel,
 * then epmd, then (the temp dir's finalizer) removes the dir.
 */
const setup = (
  names: ReadonlyArray<string>,
  rawOptions: RabbitMQOptions
): Effect.Effect<{ infra: Infra; states: Array<NodeState> }, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!rabbitmqAvailable) return yield* new BrokerError({ message: MISSING })
    const options = resolveOptions(rawOptions)
    const states: Array<NodeState> = []
    let epmdSet: ProcessSet | undefined
    const allGone = () => states.every((s) => s.processes.live().length === 0) && (epmdSet?.live().length ?? 0) === 0
    const base = yield* makeBaseDir(allGone)
    let infraRef: Infra | undefined
    const epmd = yield* startEpmd(base, options, (set, current) =>
      Effect.addFinalizer(() =>
        Effect.gen(function*() {
          if (infraRef !== undefined) infraRef.closing = true
          // nodes first (in parallel), epmd last: a node stopping still talks to epmd
          yield* Effect.forEach(states, (s) => stopLaunched(s.launcher, s.processes, options.stopTimeoutMs), {
            concurrency: "unbounded",
            discard: true
          })
          yield* stopLaunched(current(), set, 5000)
        })
      ))
    epmdSet = epmd.set
    const infra: Infra = {
      base,
      cookie: `AIMEQTT${Crypto.randomBytes(12).toString("hex").toUpperCase()}`,
      epmdPort: epmd.port,
      epmd: epmd.set,
      epmdProcess: epmd.process,
      options,
      closing: false
    }
    infraRef = infra
    const ports = yield* freePorts(3 * names.length)
    names.forEach((name, i) => {
      states.push({
        name,
        nodeName: `${name}@localhost`,
        dir: Path.join(base, name),
        ports: { mqtt: ports[3 * i]!, amqp: ports[3 * i + 1]!, dist: ports[3 * i + 2]! },
        launcher: undefined,
        processes: new ProcessSet(),
        logOffset: 0,
        stdoutOffset: 0
      })
    })
    return { infra, states }
  })

/** How many members the MQTT plugin's Raft cluster (client-id tracking) has, as `r1` sees it. */
const raftMembers = (state: NodeState, infra: Infra) =>
  runCtl(
    state,
    infra,
    ["eval", "case ra:members({mqtt_node, node()}) of {ok, M, _} -> length(M); _ -> 0 end."],
    infra.options.ctlTimeoutMs
  ).pipe(Effect.map((out) => Number(out.trim())))

/** Real RabbitMQ nodes on loopback. */
export const RabbitMQ = {
  /**
   * One node (`r1@localhost`) in a fresh temp dir with its own epmd; resolves when its MQTT port accepts
   * (bounded by `startTimeoutMs`, default 60 s; a failure carries the tail of the node's log).
   * Cold start: ~10 s on 2 cores.
   */
  start: (options: RabbitMQOptions = {}): Effect.Effect<RabbitMQNode, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      const { infra, states } = yield* setup(["r1"], options)
      const state = states[0]!
      yield* firstBoot(state, infra)
      return makeNodeHandle(state, infra)
    }),

  /**
   * Three nodes started in parallel (one epmd, one cookie), then `r2` and `r3` joined to `r1` (`stop_app`,
   * `join_cluster r1@localhost`, `start_app`); resolves when all three MQTT ports accept again and the MQTT
   * plugin's Raft cluster has 3 members. Takes ~15–20 s on 2 cores: start it once per test file (see
   * {@link RabbitMQCluster.layer}).
   */
  cluster: (options: RabbitMQOptions = {}): Effect.Effect<RabbitMQClusterHandle, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      const { infra, states } = yield* setup(["r1", "r2", "r3"], options)
      yield* Effect.forEach(states, (s) => firstBoot(s, infra), { concurrency: "unbounded", discard: true })
      const [r1, r2, r3] = states as [NodeState, NodeState, NodeState]
      for (const s of [r2, r3]) {
        for (const args of [["stop_app"], ["join_cluster", r1.nodeName], ["start_app"]]) {
          yield* runCtl(s, infra, args, infra.options.ctlTimeoutMs).pipe(
            Effect.mapError((e) =>
              new BrokerError({
                message: `joining ${s.nodeName} to ${r1.nodeName}: ${e.message}\n${failureText(s)}`,
                ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
                cause: e
              })
            )
          )
        }
      }
      for (const s of states) yield* awaitMqtt(s, infra.options.startTimeoutMs, "after the cluster join")
      // the client-id tracker (Raft) must span the 3 nodes
      const deadline = Date.now() + infra.options.startTimeoutMs
      let members = yield* raftMembers(r1, infra)
      while (members !== 3) {
        if (Date.now() >= deadline) {
          return yield* new BrokerError({ message: `the MQTT Raft cluster has ${members} members, not 3\n${failureText(r1)}` })
        }
        yield* Effect.sleep("200 millis")
        members = yield* raftMembers(r1, infra)
      }
      const nodes = [makeNodeHandle(r1, infra), makeNodeHandle(r2, infra), makeNodeHandle(r3, infra)] as const
      const handle: RabbitMQClusterHandle = {
        nodes,
        urls: [nodes[0].url, nodes[1].url, nodes[2].url],
        epmdPort: infra.epmdPort,
        dir: infra.base,
        pids: () => [...states.flatMap((s) => s.processes.pids()), ...infra.epmd.pids()]
      }
      return handle
    })
}

/** A single RabbitMQ node as a service: `RabbitMQBroker.layer(options)` (the layer's scope owns it). */
export class RabbitMQBroker extends Context.Service<RabbitMQBroker, RabbitMQNode>()("aimeqtt/test/RabbitMQBroker") {
  static layer(options: RabbitMQOptions = {}): Layer.Layer<RabbitMQBroker, BrokerError> {
    return Layer.effect(RabbitMQBroker, RabbitMQ.start(options))
  }
}

/**
 * A 3-node cluster as a service, to share one cluster between the tests of a file (it takes ~20 s to start):
 *
 * ```ts
 * it.layer(RabbitMQCluster.layer(), { timeout: "150 seconds", excludeTestServices: true })("cluster", (it) => {
 *   it.effect("...", () => Effect.gen(function*() { const { nodes } = yield* RabbitMQCluster }))
 * })
 * ```
 */
export class RabbitMQCluster
  extends Context.Service<RabbitMQCluster, RabbitMQClusterHandle>()("aimeqtt/test/RabbitMQCluster")
{
  static layer(options: RabbitMQOptions = {}): Layer.Layer<RabbitMQCluster, BrokerError> {
    return Layer.effect(RabbitMQCluster, RabbitMQ.cluster(options))
  }
}
