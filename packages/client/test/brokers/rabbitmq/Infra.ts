/**
 * What the nodes of one single node or cluster share: the options, the temp dir, the cookie, their own epmd on a
 * free loopback port, and the free ports the nodes listen on.
 */
import { Effect, type Scope } from "effect"
import * as Path from "node:path"
import { BrokerError, freePorts, HOST, tcpProbe } from "../internal.ts"
import { launch, type Launched, makeTempDir, ownsListener, ProcessSet, readText, stopLaunched, tail } from "../Processes.ts"
import { epmdBinary } from "./Install.ts"

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

/** What the nodes of one `start`/`cluster` share: the temp dir, the cookie and the epmd. */
export interface Infra {
  readonly base: string
  readonly cookie: string
  readonly epmdPort: number
  readonly epmd: ProcessSet
  readonly epmdProcess: Launched
  readonly options: Required<Omit<RabbitMQOptions, "extraConfig">> & { readonly extraConfig: string }
  /** Set once the scope started closing: no more ctl calls or (re)starts, their epmd is going away. */
  closing: boolean
}

export const resolveOptions = (options: RabbitMQOptions): Infra["options"] => ({
  startTimeoutMs: options.startTimeoutMs ?? 60_000,
  ctlTimeoutMs: options.ctlTimeoutMs ?? 30_000,
  stopTimeoutMs: options.stopTimeoutMs ?? 20_000,
  lifetimeSeconds: options.lifetimeSeconds ?? 1800,
  extraConfig: options.extraConfig ?? ""
})

export const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8"
})

/**
 * The temp dir of a single node or cluster. Its finalizer (the first one registered, so it runs last) removes it
 * only when `allGone()`: a data dir removed under a running node makes its shutdown hang (~10 s) and fail.
 */
export const makeBaseDir = (allGone: () => boolean) => makeTempDir("aimeqtt-rabbitmq-", "RabbitMQ", allGone)

/**
 * Starts `epmd -address 127.0.0.1 -port P` in the foreground (we hold its PID; without it, erl would start a
 * daemonised epmd on 0.0.0.0:4369) and waits until it listens. Retries on another port if it exits.
 */
export const startEpmd = (
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

export const requireEpmd = (infra: Infra, what: string): Effect.Effect<void, BrokerError> =>
  Effect.suspend(() => {
    if (infra.closing) return Effect.fail(new BrokerError({ message: `${what}: the RabbitMQ scope is closed` }))
    if (infra.epmdProcess.exited || infra.epmd.live().length === 0) {
      return Effect.fail(new BrokerError({ message: `${what}: the helper's epmd is not running` }))
    }
    return Effect.void
  })
