/** One node's state, and what it is started with: its environment, its `rabbitmq.conf` and the files of its dir. */
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { BrokerError, HOST } from "../internal.ts"
import type { Launched, ProcessSet } from "../Processes.ts"
import { baseEnv, type Infra } from "./Infra.ts"

export interface NodePorts {
  readonly mqtt: number
  readonly amqp: number
  readonly dist: number
}

/** Mutable state of one node: its ports, dir, current launcher and every process seen. */
export interface NodeState {
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

export const logFileOf = (state: NodeState) => Path.join(state.dir, "log", `${state.nodeName}.log`)
export const stdoutFileOf = (state: NodeState) => Path.join(state.dir, "stdout.log")

export const nodeEnv = (state: NodeState, infra: Infra): Record<string, string> => {
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

export const writeNodeFiles = (state: NodeState, infra: Infra): Effect.Effect<void, BrokerError> =>
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
