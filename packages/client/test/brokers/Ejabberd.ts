/**
 * A real ejabberd 23.01 (Debian package) with `mod_mqtt`: a second MQTT 5.0 broker next to mosquitto, for
 * tests (recipe: ../shared/BROKERS-CLUSTER.md §4).
 *
 * - Every broker runs in the foreground (`ejabberdctl … foreground`) in a fresh temp dir (config, spool, logs),
 *   with both of its listeners (MQTT and the Erlang distribution, `ERL_DIST_PORT`: no epmd) on free 127.0.0.1
 *   ports, and its own random cookie (`-setcookie`, so no `~/.erlang.cookie` is read or written).
 * - ejabberdctl is spawned directly as user `ejabberd` (spawn's uid/gid; the dir is chowned to it). Trap: started
 *   as root, ejabberdctl `su`s to that user itself, and `su -c` puts the beam in a new session, out of reach of
 *   the `timeout` watchdog. Spawned as the user, the chain is one process group: `timeout` → `bash ejabberdctl` →
 *   `beam.smp` (→ `erl_child_setup`).
 * - On scope close: SIGTERM to the beam.smp PID, wait (bounded) until every process of the chain has exited,
 *   SIGKILL what is left after the bound; only then is the temp dir removed. Nothing is killed by name.
 * - As a last resort (the test process SIGKILLed, no finalizer), `timeout` stops the whole group after
 *   {@link EjabberdOptions.lifetimeSeconds} (verified by hand: a TERM to `timeout` reaches the beam, all gone in 2.5 s).
 *
 * Verified here (Debian 12, ejabberd 23.01-1, Erlang 25.2.3, 2 cores); the MQTT items by ejabberd.broker.test.ts:
 * - Startup (spawn → "is started" logged, our beam owns the MQTT listener, a connect succeeds): 2.5–3.2 s,
 *   up to 9 s with load 6 on the 2 cores. ejabberd logs "started in 1.5–2.0 s", and it logs that line before
 *   the mod_mqtt listener accepts, so the log line alone is not "ready". Each `ejabberdctl register` takes
 *   1.2–1.6 s (up to 3.2 s under load), because every call is an Erlang VM of its own.
 * - Memory: beam.smp VmRSS 86–103 MB, VmHWM 101–106 MB. Both listeners (MQTT, distribution) are on 127.0.0.1.
 * - Stop: SIGTERM to beam.smp, then the whole chain has exited within 1.1–1.3 s (2.5–2.8 s in runs by hand).
 * - CONNACK to an MQTT 5 CONNECT (clean start, keep alive 30, a client id): reason 0, session present 0, and
 *   exactly these properties: Session Expiry Interval 0, Server Keep Alive 30 (echoes the client's), Topic Alias
 *   Maximum 100, Shared Subscription Available 0. There is NO Receive Maximum (so 65535 applies), and no Maximum
 *   QoS or Retain Available. The "Topic Alias Maximum 10, Receive Maximum 20" in BROKERS-CLUSTER.md §4 is not
 *   what it sends. An empty client id gets an Assigned Client Identifier.
 * - Auth: only registered users (`alice` or `alice@localhost`, with the password). No credentials, an unknown
 *   user or a wrong password all get CONNACK 0x87 Not authorized. An empty password means TLS-certificate auth
 *   only, so mod_mqtt has no anonymous login.
 * - Topic aliases: ejabberd accepts them from a client but never sends any, even to a client that allows them
 *   (Topic Alias Maximum 10 in its CONNECT): every PUBLISH it sends has the full topic and no Topic Alias.
 * - User Properties (in order, duplicates kept) and Content Type reach the subscriber unchanged.
 * - A QoS 1 PUBLISH with no subscriber gets PUBACK 0x10 (No matching subscribers).
 * - Flow control: one QoS 1/2 message in flight per subscriber, whatever Receive Maximum the client sent. The
 *   next one is sent only after the PUBACK of the previous one.
 * - Shared subscriptions: a SUBSCRIBE with a `$share/…` filter gets no SUBACK. The server sends DISCONNECT 0x9E
 *   (Shared Subscriptions not supported) and closes the connection.
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

/** The Debian package's control script (there is no other way to start the node). */
const EJABBERDCTL = "/usr/sbin/ejabberdctl"

const executableAt = (path: string): string | undefined => {
  try {
    Fs.accessSync(path, Fs.constants.X_OK)
    return Fs.statSync(path).isFile() ? path : undefined
  } catch {
    return undefined
  }
}

/** `/usr/sbin/ejabberdctl`, or `undefined` when ejabberd is not installed. */
export const ejabberdctlBinary: string | undefined = executableAt(EJABBERDCTL)
/** coreutils `timeout`: the lifetime watchdog (optional). */
const timeoutBinary: string | undefined = findExecutable("timeout")

/** uid and gid of the system user `ejabberd` (created by the package), read from /etc/passwd. */
const ejabberdAccount = ((): { readonly uid: number; readonly gid: number } | undefined => {
  try {
    for (const line of Fs.readFileSync("/etc/passwd", "utf8").split("\n")) {
      const fields = line.split(":")
      if (fields[0] === "ejabberd" && fields.length >= 4) return { uid: Number(fields[2]), gid: Number(fields[3]) }
    }
  } catch {
    // no /etc/passwd
  }
  return undefined
})()

/**
 * The uid/gid the broker and ejabberdctl are spawned with: `ejabberd`'s when we are root, none when we already
 * are that user; `undefined` otherwise (ejabberdctl refuses any other user).
 */
const spawnIdentity: { readonly uid?: number; readonly gid?: number } | undefined = (() => {
  if (ejabberdAccount === undefined || typeof process.getuid !== "function") return undefined
  const me = process.getuid()
  if (me === 0) return ejabberdAccount
  return me === ejabberdAccount.uid ? {} : undefined
})()

/**
 * `true` when ejabberd is installed (`/usr/sbin/ejabberdctl`, user `ejabberd`) and this process may run it
 * (as root, or as user `ejabberd`).
 */
export const ejabberdAvailable: boolean = ejabberdctlBinary !== undefined && spawnIdentity !== undefined

const MISSING = ejabberdctlBinary !== undefined && ejabberdAccount !== undefined
  ? "ejabberd is installed, but the tests must run as root or as user ejabberd to start it"
  : "ejabberd is required under CI (install: apt-get install -y ejabberd)"

/**
 * `describe` for tests that need ejabberd. When it is missing: under CI (`CI=true`) the block holds a single
 * failing test "ejabberd is required under CI"; otherwise the block is skipped with a loud console warning.
 */
export const describeEjabberd = (name: string, fn: () => void): void => {
  if (ejabberdAvailable) {
    describe(name, fn)
  } else if (isCI) {
    describe(name, () => {
      it.effect("ejabberd is required under CI", () => requireEjabberd)
    })
  } else {
    console.warn(`\n!!!!!!!! SKIPPING "${name}": ${MISSING} !!!!!!!!\n`)
    describe.skip(name, fn)
  }
}

/** Effect guard for a single test: fails with {@link BrokerError} when ejabberd cannot be started. */
export const requireEjabberd: Effect.Effect<void, BrokerError> = Effect.suspend(() =>
  ejabberdAvailable ? Effect.void : Effect.fail(new BrokerError({ message: MISSING }))
)

/** Options of {@link Ejabberd.start}. */
export interface EjabberdOptions {
  /**
   * Users to register (`ejabberdctl register USER localhost PASSWORD`) before `start` succeeds, e.g.
   * `{ alice: "password" }`. MQTT clients log in as `alice` (or `alice@localhost`). Default: none, and then
   * nobody can connect: mod_mqtt has no anonymous login.
   */
  readonly users?: Readonly<Record<string, string>>
  /**
   * Options of `mod_mqtt`, written verbatim into its YAML mapping (e.g. `{ max_topic_aliases: 5, max_queue: 100 }`,
   * `{ session_expiry: "5 minutes" }` is written unquoted too).
   */
  readonly modMqtt?: Readonly<Record<string, string | number | boolean>>
  /** Bound of the startup (MQTT port accepting, "is started" logged). Default 30 000 ms (it takes 2.5–9 s). */
  readonly startTimeoutMs?: number
  /** Bound of each ejabberdctl call ({@link EjabberdNode.ctl}, user registration). Default 20 000 ms. */
  readonly ctlTimeoutMs?: number
  /** How long the SIGTERM of the beam may take before SIGKILL. Default 15 000 ms (it takes 1–3 s). */
  readonly stopTimeoutMs?: number
  /** Watchdog: the broker runs under `timeout -k 10 N` and stops by itself after N s. Default 1800. */
  readonly lifetimeSeconds?: number
}

/** A running ejabberd, owned by the scope of {@link Ejabberd.start}. */
export interface EjabberdNode {
  /** Always `"127.0.0.1"`. */
  readonly host: string
  /** The MQTT port. */
  readonly port: number
  /** `mqtt://127.0.0.1:PORT`. */
  readonly url: string
  /** The PID of `beam.smp` (the broker itself). */
  readonly pid: number
  /** The PID of the launcher (`timeout`, or `bash ejabberdctl` without coreutils timeout). */
  readonly launcherPid: number
  /** The Erlang distribution port (what ejabberdctl connects to). */
  readonly distPort: number
  /** Erlang node name, e.g. `ej-3f9a1c@localhost`. */
  readonly nodeName: string
  /** The XMPP domain the users belong to: `"localhost"`. */
  readonly domain: string
  /** The temp dir (ejabberd.yml, ejabberdctl.cfg, spool/, log/, stdout.log); removed on scope close. */
  readonly dir: string
  /** Milliseconds from spawning the launcher until the broker was ready. */
  readonly startupMs: number
  /** Every PID of the chain seen so far (launcher, ejabberdctl's bash, beam.smp, its port programs). */
  readonly pids: () => ReadonlyArray<number>
  /** The beam's current resident memory (VmRSS) in KiB, or `undefined` once it is gone. */
  readonly rssKb: () => number | undefined
  /** `true` while the beam runs. */
  readonly alive: Effect.Effect<boolean>
  /**
   * Runs `ejabberdctl … ARGS` against this node (bounded by `timeoutMs`, default
   * {@link EjabberdOptions.ctlTimeoutMs}) and yields its stdout; a non-zero exit fails with `exitCode`.
   */
  readonly ctl: (args: ReadonlyArray<string>, options?: { readonly timeoutMs?: number }) => Effect.Effect<string, BrokerError>
  /** `ejabberdctl register USER localhost PASSWORD`. */
  readonly register: (user: string, password: string) => Effect.Effect<void, BrokerError>
  /** The broker's stdout/stderr (ejabberd logs there too) and log/error.log, as one text. */
  readonly logText: () => string
}

// ---------------------------------------------------------------------------------------------------------------
// /proc: processes by PID and start time (a reused PID is never mistaken for ours)

interface Tracked {
  readonly pid: number
  readonly ppid: number
  readonly comm: string
  readonly state: string
  readonly start: string
}

const readStat = (pid: number): Tracked | undefined => {
  try {
    const text = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const close = text.lastIndexOf(")")
    const rest = text.slice(close + 2).split(" ")
    // after "(comm)": field 3 state, 4 ppid, ..., 22 starttime
    return { pid, ppid: Number(rest[1]), comm: text.slice(text.indexOf("(") + 1, close), state: rest[0] ?? "?", start: rest[19] ?? "" }
  } catch {
    return undefined
  }
}

/** The live descendants of `root`, read from /proc. */
const descendantsOf = (root: number): Array<Tracked> => {
  const byParent = new Map<number, Array<Tracked>>()
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat === undefined) continue
    const siblings = byParent.get(stat.ppid)
    if (siblings === undefined) byParent.set(stat.ppid, [stat])
    else siblings.push(stat)
  }
  const out: Array<Tracked> = []
  const queue = [root]
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of byParent.get(pid) ?? []) {
      out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}

/** `true` when the process is gone: no such PID, a zombie, or the PID now belongs to another process. */
const isGone = (t: Tracked): boolean => {
  const now = readStat(t.pid)
  return now === undefined || now.state === "Z" || now.start !== t.start
}

const signalTracked = (t: Tracked, signal: NodeJS.Signals): void => {
  if (!isGone(t)) signalPid(t.pid, signal)
}

/** Polls /proc every 50 ms until every process is gone; `true` when they all are within `timeoutMs`. */
const waitGone = (tracked: ReadonlyArray<Tracked>, timeoutMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!tracked.every(isGone)) {
      if (Date.now() >= deadline) return false
      yield* Effect.sleep("50 millis")
    }
    return true
  })

/** `true` when process `pid` holds the LISTEN socket of 127.0.0.1:port (a probe alone could hit someone else's). */
const ownsListener = (pid: number, port: number): boolean => {
  let table = ""
  try {
    table = Fs.readFileSync("/proc/net/tcp", "utf8")
  } catch {
    return false
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`
  const inodes = new Set<string>()
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f[1] === local && f[3] === "0A" && f[9] !== undefined) inodes.add(f[9])
  }
  if (inodes.size === 0) return false
  try {
    return Fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(Fs.readlinkSync(`/proc/${pid}/fd/${fd}`))
        return match !== null && inodes.has(match[1]!)
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

const rssOf = (pid: number): number | undefined => {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------------
// files, ports, the launcher

/** Two distinct free ports on 127.0.0.1 (both probe servers are open at once). */
const twoFreePorts: Effect.Effect<readonly [number, number], BrokerError> = Effect.callback((resume) => {
  const servers = [Net.createServer(), Net.createServer()]
  const ports: Array<number> = []
  let failed = false
  const closeAll = (then: () => void) => {
    let open = servers.length
    for (const s of servers) {
      s.close(() => {
        open -= 1
        if (open === 0) then()
      })
    }
  }
  for (const server of servers) {
    server.once("error", (cause) => {
      if (failed) return
      failed = true
      resume(Effect.fail(new BrokerError({ message: "cannot pick free ports", cause })))
    })
    server.listen(0, HOST, () => {
      const address = server.address()
      ports.push(typeof address === "object" && address !== null ? address.port : 0)
      if (ports.length === 2 && !failed) closeAll(() => resume(Effect.succeed([ports[0]!, ports[1]!] as const)))
    })
  }
})

const readText = (file: string): string => {
  try {
    return Fs.readFileSync(file, "utf8")
  } catch {
    return ""
  }
}

const tail = (text: string, lines: number): string => text.split("\n").slice(-lines).join("\n")

/** Mutable state of one broker. */
interface State {
  readonly dir: string
  readonly nodeName: string
  readonly cookie: string
  readonly options: Required<Omit<EjabberdOptions, "users" | "modMqtt">> & {
    readonly modMqtt: Readonly<Record<string, string | number | boolean>>
  }
  mqttPort: number
  distPort: number
  launcher: ChildProcess.ChildProcess | undefined
  launcherExit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  /** Every process of the chain seen, keyed by PID and start time. */
  readonly seen: Map<string, Tracked>
}

const stdoutFile = (s: State) => Path.join(s.dir, "stdout.log")

/** ejabberdctl's options: everything in our dir (without them it uses /etc/ejabberd and /var/lib/ejabberd). */
const ctlOptions = (s: State): Array<string> => [
  "--config-dir",
  s.dir,
  "--config",
  Path.join(s.dir, "ejabberd.yml"),
  "--ctl-config",
  Path.join(s.dir, "ejabberdctl.cfg"),
  "--logs",
  Path.join(s.dir, "log"),
  "--spool",
  Path.join(s.dir, "spool")
]

const childEnv = (s: State): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: s.dir,
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8"
})

const yamlValue = (v: string | number | boolean): string => String(v)

/** Writes the config files for the current ports into a fresh spool/log and hands the dir to user ejabberd. */
const writeFiles = (s: State): Effect.Effect<void, BrokerError> =>
  Effect.try({
    try: () => {
      for (const sub of ["spool", "log"]) {
        Fs.rmSync(Path.join(s.dir, sub), { recursive: true, force: true })
        Fs.mkdirSync(Path.join(s.dir, sub))
      }
      const modMqtt = Object.entries(s.options.modMqtt).map(([k, v]) => `${k}: ${yamlValue(v)}`).join(", ")
      Fs.writeFileSync(
        Path.join(s.dir, "ejabberd.yml"),
        [
          "hosts: [localhost]",
          // fixed: readiness waits for the "is started" info line
          "loglevel: info",
          "listen:",
          `  - {port: ${s.mqttPort}, ip: "${HOST}", module: mod_mqtt, backlog: 1000}`,
          `acl: {local: {user_regexp: ""}}`,
          "access_rules: {local: {allow: local}}",
          `modules: {mod_mqtt: {${modMqtt}}}`,
          ""
        ].join("\n")
      )
      // Sourced by ejabberdctl (a shell script). ERL_DIST_PORT: no epmd, the node listens on that port and the
      // ctl connects to it. The interface goes into ERL_OPTIONS rather than INET_DIST_INTERFACE, which costs
      // every ejabberdctl call an extra Erlang VM to parse it.
      Fs.writeFileSync(
        Path.join(s.dir, "ejabberdctl.cfg"),
        [
          `ERLANG_NODE=${s.nodeName}`,
          `ERL_DIST_PORT=${s.distPort}`,
          `ERL_OPTIONS="-setcookie ${s.cookie} -kernel inet_dist_use_interface {127,0,0,1}"`,
          ""
        ].join("\n")
      )
      // ERL_INETRC is $CONFIG_DIR/inetrc (without it: a harmless "inetrc not found" error report)
      Fs.writeFileSync(
        Path.join(s.dir, "inetrc"),
        `{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n{file, resolv, "/etc/resolv.conf"}.\n`
      )
      const owner = spawnIdentity
      if (owner?.uid !== undefined && owner.gid !== undefined) {
        for (const p of [s.dir, ...["spool", "log", "ejabberd.yml", "ejabberdctl.cfg", "inetrc"].map((f) => Path.join(s.dir, f))]) {
          Fs.chownSync(p, owner.uid, owner.gid)
        }
      }
    },
    catch: (cause) => new BrokerError({ message: `cannot write the ejabberd files in ${s.dir}: ${String(cause)}`, cause })
  })

/** Spawns `[timeout -k 10 N] ejabberdctl OPTIONS foreground` as user ejabberd, output appended to stdout.log. */
const spawnLauncher = (s: State): Effect.Effect<void, BrokerError> =>
  Effect.try({
    try: () => {
      const ctl = [ejabberdctlBinary!, ...ctlOptions(s), "foreground"]
      const [program, args] = timeoutBinary !== undefined
        ? [timeoutBinary, ["-k", "10", String(s.options.lifetimeSeconds), ...ctl]]
        : [ctl[0]!, ctl.slice(1)]
      const fd = Fs.openSync(stdoutFile(s), "a")
      let child: ChildProcess.ChildProcess
      try {
        child = ChildProcess.spawn(program, args, { env: childEnv(s), cwd: s.dir, stdio: ["ignore", fd, fd], ...spawnIdentity })
      } finally {
        Fs.closeSync(fd)
      }
      if (child.pid === undefined) throw new Error(`cannot spawn ${program}`)
      s.launcher = child
      s.launcherExit = undefined
      const stat = readStat(child.pid)
      if (stat !== undefined) s.seen.set(`${stat.pid}/${stat.start}`, stat)
      child.once("error", () => {
        // reported through the exit
      })
      child.once("exit", (code, signal) => {
        if (s.launcher === child) s.launcherExit = { code, signal }
      })
    },
    catch: (cause) => new BrokerError({ message: `cannot start ejabberd: ${String(cause)}`, cause })
  })

/** Adds the live descendants of the launcher to `seen` (call before signalling, so they are waited for). */
const refresh = (s: State): void => {
  const pid = s.launcher?.pid
  if (pid === undefined || s.launcherExit !== undefined) return
  for (const p of descendantsOf(pid)) {
    if (p.state !== "Z") s.seen.set(`${p.pid}/${p.start}`, p)
  }
}

const live = (s: State): Array<Tracked> => [...s.seen.values()].filter((t) => !isGone(t))

/** The current beam.smp (its name is read again: a fresh child may not have exec'd yet). */
const findBeam = (s: State): Tracked | undefined => {
  refresh(s)
  return live(s).find((t) => readStat(t.pid)?.comm === "beam.smp")
}

/**
 * Stops the broker by PID: SIGCONT and SIGTERM to the beam (or, without a beam, to the launcher, which passes
 * it on to its process group), waits until every process of the chain is gone, SIGKILLs what is left after
 * `graceMs`. `true` when all of them are gone.
 */
const stop = (s: State, graceMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    refresh(s)
    const running = live(s)
    if (running.length === 0) return true
    for (const t of running) signalTracked(t, "SIGCONT")
    const beam = findBeam(s)
    if (beam !== undefined) signalTracked(beam, "SIGTERM")
    else for (const t of running) signalTracked(t, "SIGTERM")
    if (yield* waitGone(running, graceMs)) return true
    refresh(s)
    for (const t of live(s)) signalTracked(t, "SIGKILL")
    return yield* waitGone(live(s), 5000)
  })

const logTextOf = (s: State): string =>
  [stdoutFile(s), Path.join(s.dir, "log", "error.log")]
    .map((file) => `--- ${Path.basename(file)} ---\n${readText(file)}`)
    .join("\n")

/** The first error lines of the output and its tail: the reason of a failed start is usually at the top. */
const failureText = (s: State): string => {
  const out = readText(stdoutFile(s))
  const errors = out.split("\n").filter((l) => /\[error\]|\[critical\]|error:/i.test(l)).slice(0, 10)
  return ["--- first error lines ---", ...errors, "--- output (tail) ---", tail(out, 30)].join("\n")
}

const STARTED = /ejabberd \S+ is started in the node/

/** Waits until the node logged "is started", its beam holds the MQTT listener and the port accepts. */
const awaitReady = (s: State, timeoutMs: number): Effect.Effect<void, BrokerError> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      if (s.launcherExit !== undefined) {
        return yield* new BrokerError({
          message: `ejabberd exited (code ${String(s.launcherExit.code)}, signal ${
            String(s.launcherExit.signal)
          }) before accepting MQTT on port ${s.mqttPort}\n${failureText(s)}`,
          exitCode: s.launcherExit.code ?? -1
        })
      }
      const beam = findBeam(s)
      if (
        beam !== undefined && STARTED.test(readText(stdoutFile(s))) && ownsListener(beam.pid, s.mqttPort) &&
        (yield* tcpProbe(s.mqttPort, 1000))
      ) return
      if (Date.now() >= deadline) {
        return yield* new BrokerError({
          message: `ejabberd did not accept MQTT on port ${s.mqttPort} within ${timeoutMs} ms\n${failureText(s)}`
        })
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** A port taken between our choice and ejabberd's bind (MQTT listener or distribution). */
const PORT_TAKEN = /eaddrinuse|address already in use/i

/**
 * Runs `ejabberdctl OPTIONS ARGS` as user ejabberd (the CLI is an Erlang VM of its own: `bash` → `beam.smp`),
 * killing its process tree by PID on timeout or interruption.
 */
const runCtl = (s: State, args: ReadonlyArray<string>, timeoutMs: number): Effect.Effect<string, BrokerError> =>
  Effect.callback<string, BrokerError>((resume) => {
    const command = `ejabberdctl ${args.join(" ")}`
    const child = ChildProcess.spawn(ejabberdctlBinary!, [...ctlOptions(s), ...args], {
      env: childEnv(s),
      cwd: s.dir,
      stdio: ["ignore", "pipe", "pipe"],
      ...spawnIdentity
    })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    child.stdout?.on("data", (b: Buffer) => stdout.push(b))
    child.stderr?.on("data", (b: Buffer) => stderr.push(b))
    let done = false
    const killTree = () => {
      if (child.pid === undefined) return
      const root = readStat(child.pid)
      for (const p of [...descendantsOf(child.pid), ...(root === undefined ? [] : [root])]) signalTracked(p, "SIGKILL")
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
  })

/** The temp dir; its finalizer (registered first, so it runs last) removes it only once every process is gone. */
const makeDir = (allGone: () => boolean) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-ejabberd-")),
      catch: (cause) => new BrokerError({ message: "cannot create the ejabberd temp dir", cause })
    }),
    (dir) =>
      Effect.sync(() => {
        if (allGone()) Fs.rmSync(dir, { recursive: true, force: true })
        else console.warn(`Ejabberd helper: processes still alive, temp dir ${dir} left in place`)
      })
  )

/** Real ejabberd brokers (mod_mqtt) on loopback. */
export const Ejabberd = {
  /**
   * Starts ejabberd with mod_mqtt on a free 127.0.0.1 port in a fresh temp dir, waits until it is ready (bounded by
   * `startTimeoutMs`; if a port was taken meanwhile, retries twice on new ports), registers `options.users`,
   * and on scope close stops it by PID (SIGTERM to beam.smp, SIGKILL after `stopTimeoutMs`), waits for the whole
   * chain to exit and removes the dir. About 3 s, plus 1.2–1.6 s per user (registered 4 at a time).
   */
  start: (options: EjabberdOptions = {}): Effect.Effect<EjabberdNode, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      if (!ejabberdAvailable) return yield* new BrokerError({ message: MISSING })
      let state: State | undefined
      const dir = yield* makeDir(() => state === undefined || live(state).length === 0)
      const s: State = {
        dir,
        nodeName: `ej-${Crypto.randomBytes(3).toString("hex")}@localhost`,
        cookie: `AIMEQTT${Crypto.randomBytes(12).toString("hex").toUpperCase()}`,
        options: {
          startTimeoutMs: options.startTimeoutMs ?? 30_000,
          ctlTimeoutMs: options.ctlTimeoutMs ?? 20_000,
          stopTimeoutMs: options.stopTimeoutMs ?? 15_000,
          lifetimeSeconds: options.lifetimeSeconds ?? 1800,
          modMqtt: options.modMqtt ?? {}
        },
        mqttPort: 0,
        distPort: 0,
        launcher: undefined,
        launcherExit: undefined,
        seen: new Map()
      }
      state = s
      yield* Effect.addFinalizer(() => Effect.asVoid(stop(s, s.options.stopTimeoutMs)))

      let startupMs = 0
      for (let attempt = 1; ; attempt++) {
        const [mqtt, dist] = yield* twoFreePorts
        s.mqttPort = mqtt
        s.distPort = dist
        yield* writeFiles(s)
        const began = Date.now()
        yield* spawnLauncher(s)
        const result = yield* Effect.result(awaitReady(s, s.options.startTimeoutMs))
        if (result._tag === "Success") {
          startupMs = Date.now() - began
          break
        }
        const portTaken = PORT_TAKEN.test(readText(stdoutFile(s)))
        const stopped = yield* stop(s, 5000)
        if (!portTaken || !stopped || attempt >= 3) return yield* result.failure
        Fs.rmSync(stdoutFile(s), { force: true })
      }
      const beam = findBeam(s)
      if (beam === undefined) return yield* new BrokerError({ message: `ejabberd is ready but has no beam.smp\n${failureText(s)}` })

      const ctl = (args: ReadonlyArray<string>, ctlOpts?: { readonly timeoutMs?: number }) =>
        runCtl(s, args, ctlOpts?.timeoutMs ?? s.options.ctlTimeoutMs)
      const register = (user: string, password: string) => Effect.asVoid(ctl(["register", user, "localhost", password]))
      yield* Effect.forEach(Object.entries(options.users ?? {}), ([user, password]) => register(user, password), {
        concurrency: 4,
        discard: true
      })

      const node: EjabberdNode = {
        host: HOST,
        port: s.mqttPort,
        url: `mqtt://${HOST}:${s.mqttPort}`,
        pid: beam.pid,
        launcherPid: s.launcher?.pid ?? -1,
        distPort: s.distPort,
        nodeName: s.nodeName,
        domain: "localhost",
        dir,
        startupMs,
        pids: () => {
          refresh(s)
          return [...new Set([...s.seen.values()].map((t) => t.pid))]
        },
        rssKb: () => (isGone(beam) ? undefined : rssOf(beam.pid)),
        alive: Effect.sync(() => !isGone(beam)),
        ctl,
        register,
        logText: () => logTextOf(s)
      }
      return node
    })
}

/** One ejabberd as a service, to share a broker between the tests of a file: `EjabberdBroker.layer(options)`. */
export class EjabberdBroker extends Context.Service<EjabberdBroker, EjabberdNode>()("aimeqtt/test/EjabberdBroker") {
  static layer(options: EjabberdOptions = {}): Layer.Layer<EjabberdBroker, BrokerError> {
    return Layer.effect(EjabberdBroker, Ejabberd.start(options))
  }
}
