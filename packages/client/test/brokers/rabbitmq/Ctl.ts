/** `rabbitmqctl` against one node, with the node's environment (cookie, epmd port), bounded in time. */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import { BrokerError } from "../internal.ts"
import { descendantsOf, readStat, signalTracked } from "../Processes.ts"
import { nodeEnv, type NodeState } from "./Config.ts"
import { type Infra, requireEpmd } from "./Infra.ts"
import { rabbitmqctlBinary } from "./Install.ts"

export const runCtl = (
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

/** How many members the MQTT plugin's Raft cluster (client-id tracking) has, as `r1` sees it. */
export const raftMembers = (state: NodeState, infra: Infra) =>
  runCtl(
    state,
    infra,
    ["eval", "case ra:members({mqtt_node, node()}) of {ok, M, _} -> length(M); _ -> 0 end."],
    infra.options.ctlTimeoutMs
  ).pipe(Effect.map((out) => Number(out.trim())))
