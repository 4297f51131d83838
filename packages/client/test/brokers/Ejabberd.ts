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
import { Context, Effect, Layer, type Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { guardsFor } from "./Guards.ts"
import { BrokerError, executableAt, freePorts, HOST, tcpProbe } from "./internal.ts"
import {
  isGone,
  launch,
  type Launched,
  makeTempDir,
  ownsListener,
  ProcessSet,
  readText,
  runBounded,
  type SpawnIdentity,
  stopLaunched,
  tail,
  type Tracked
} from "./Processes.ts"

/** The Debian package's control script (there is no other way to start the node). */
const EJABBERDCTL = "/usr/sbin/ejabberdctl"

/** `/usr/sbin/ejabberdctl`, or `undefined` when ejabberd is not installed. */
export const ejabberdctlBinary: string | undefined = executableAt(EJABBERDCTL)

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
const spawnIdentity: SpawnIdentity | undefined = (() => {
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

const ejabberdGuards = guardsFor({
  available: ejabberdAvailable,
  missing: MISSING,
  testUnderCI: "ejabberd is required under CI",
  skipReason: MISSING
})

/**
 * `describe` for tests that need ejabberd. When it is missing: under CI (`CI=true`) the block holds a single
 * failing test "ejabberd is required under CI"; otherwise the block is skipped with a loud console warning.
 */
export const describeEjabberd: (name: string, fn: () => void) => void = ejabberdGuards.describe

/** Effect guard for a single test: fails with {@link BrokerError} when ejabberd cannot be started. */
export const requireEjabberd: Effect.Effect<void, BrokerError> = ejabberdGuards.require

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
// memory, files, the launcher (processes are tracked by PID and start time: ProcessSet in Processes.ts)

/** The current resident memory (VmRSS) of process `pid` in KiB, or `undefined` once it is gone. */
const rssOf = (pid: number): number | undefined => {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? undefined : Number(match[1])
  } catch {
    return undefined
  }
}

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
  /** The current launcher (`timeout` or `bash ejabberdctl`); a retry on new ports replaces it. */
  launcher: Launched | undefined
  /** Every process of the chain seen (launchers, ejabberdctl's bash, beam.smp, its port programs). */
  readonly processes: ProcessSet
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
  Effect.map(
    launch(
      ejabberdctlBinary!,
      [...ctlOptions(s), "foreground"],
      childEnv(s),
      stdoutFile(s),
      s.options.lifetimeSeconds,
      s.dir,
      spawnIdentity
    ),
    (launched) => {
      s.launcher = launched
      s.processes.add(launched.tracked)
    }
  )

/** The current beam.smp, after adding the launcher's live descendants to the set. */
const findBeam = (s: State): Tracked | undefined => {
  s.processes.refresh(s.launcher)
  return s.processes.findLive("beam.smp")
}

/**
 * Stops the broker by PID: SIGCONT and SIGTERM to the beam (or, without a beam, to every process of the chain:
 * the launcher passes it on to its process group), waits until every process of the chain is gone, SIGKILLs
 * what is left after `graceMs`. `true` when all of them are gone.
 */
const stop = (s: State, graceMs: number): Effect.Effect<boolean> =>
  stopLaunched(s.launcher, s.processes, graceMs, () => findBeam(s))

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
      const launcher = s.launcher
      if (launcher?.exited === true) {
        return yield* new BrokerError({
          message: `ejabberd exited (code ${String(launcher.exitCode)}, signal ${
            String(launcher.exitSignal)
          }) before accepting MQTT on port ${s.mqttPort}\n${failureText(s)}`,
          exitCode: launcher.exitCode ?? -1
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
  runBounded(ejabberdctlBinary!, [...ctlOptions(s), ...args], {
    label: `ejabberdctl ${args.join(" ")}`,
    env: childEnv(s),
    cwd: s.dir,
    timeoutMs,
    spawnAs: spawnIdentity
  })

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
      // registered first, so it runs last: the dir is removed only once every process is gone
      const dir = yield* makeTempDir(
        "aimeqtt-ejabberd-",
        "ejabberd",
        () => state === undefined || state.processes.live().length === 0
      )
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
        processes: new ProcessSet()
      }
      state = s
      yield* Effect.addFinalizer(() => Effect.asVoid(stop(s, s.options.stopTimeoutMs)))

      let startupMs = 0
      for (let attempt = 1; ; attempt++) {
        const [mqtt, dist] = yield* freePorts(2)
        s.mqttPort = mqtt!
        s.distPort = dist!
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
        launcherPid: s.launcher?.tracked.pid ?? -1,
        distPort: s.distPort,
        nodeName: s.nodeName,
        domain: "localhost",
        dir,
        startupMs,
        pids: () => {
          s.processes.refresh(s.launcher)
          return [...new Set(s.processes.pids())]
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
