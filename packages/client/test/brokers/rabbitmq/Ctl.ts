/** `rabbitmqctl` against one node, with the node's environment (cookie, epmd port), bounded in time. */
import { Effect } from "effect"
import type { BrokerError } from "../internal.ts"
import { runBounded } from "../Processes.ts"
import { nodeEnv, type NodeState } from "./Config.ts"
import { type Infra, requireEpmd } from "./Infra.ts"
import { rabbitmqctlBinary } from "./Install.ts"

export const runCtl = (
  state: NodeState,
  infra: Infra,
  args: ReadonlyArray<string>,
  timeoutMs: number
): Effect.Effect<string, BrokerError> =>
  // the CLI is `exec erl …`: one PID (the beam) with port programs under it, killed by PID on timeout
  Effect.flatMap(requireEpmd(infra, `rabbitmqctl ${args.join(" ")}`), () =>
    runBounded(rabbitmqctlBinary!, ["-n", state.nodeName, ...args], {
      label: `rabbitmqctl -n ${state.nodeName} ${args.join(" ")}`,
      env: nodeEnv(state, infra),
      cwd: state.dir,
      timeoutMs
    }))

/** How many members the MQTT plugin's Raft cluster (client-id tracking) has, as `r1` sees it. */
export const raftMembers = (state: NodeState, infra: Infra) =>
  runCtl(
    state,
    infra,
    ["eval", "case ra:members({mqtt_node, node()}) of {ok, M, _} -> length(M); _ -> 0 end."],
    infra.options.ctlTimeoutMs
  ).pipe(Effect.map((out) => Number(out.trim())))
