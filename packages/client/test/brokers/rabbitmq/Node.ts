/**
 * One RabbitMQ node's process: its first start (retried on ports taken meanwhile), restarts, the wait for its
 * MQTT listener, what it wrote when it failed, and the {@link RabbitMQNode} handle over it.
 */
import { Effect, type Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { BrokerError, freePorts, HOST, tcpProbe } from "../internal.ts"
import { launch, ownsListener, ProcessSet, readText, signalTracked, stopLaunched, tail, type Tracked, waitGone } from "../Processes.ts"
import { logFileOf, type NodeState, nodeEnv, stdoutFileOf, writeNodeFiles } from "./Config.ts"
import { runCtl } from "./Ctl.ts"
import { type Infra, makeBaseDir, requireEpmd, resolveOptions, type RabbitMQOptions, startEpmd } from "./Infra.ts"
import { MISSING, rabbitmqAvailable, rabbitmqServerBinary } from "./Install.ts"

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

export const findBeam = (state: NodeState): Tracked | undefined => {
  state.processes.refresh(state.launcher)
  return state.processes.findLive("beam.smp")
}

/** What the current launcher wrote: the node's log and its stdout/stderr (rabbit prints boot failures there). */
const outputSinceLaunch = (state: NodeState): { log: string; stdout: string } => ({
  log: readText(logFileOf(state)).slice(state.logOffset),
  stdout: readText(stdoutFileOf(state)).slice(state.stdoutOffset)
})

/** The tails of the node's log and stdout, plus the first error lines of the stdout (the reason is often there). */
export const failureText = (state: NodeState): string => {
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
export const awaitMqtt = (
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
export const firstBoot = (state: NodeState, infra: Infra): Effect.Effect<void, BrokerError> =>
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

export const makeNodeHandle = (state: NodeState, infra: Infra): RabbitMQNode => {
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
export const setupNodes = (
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

/** One node, `r1@localhost`: see {@link RabbitMQ.start}. */
export const startNode = (options: RabbitMQOptions = {}): Effect.Effect<RabbitMQNode, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    const { infra, states } = yield* setupNodes(["r1"], options)
    const state = states[0]!
    yield* firstBoot(state, infra)
    return makeNodeHandle(state, infra)
  })
