/** A 3-node RabbitMQ cluster: the nodes started in parallel, `r2` and `r3` joined to `r1`, and its handle. */
import { Effect, type Scope } from "effect"
import { BrokerError } from "../internal.ts"
import type { NodeState } from "./Config.ts"
import { raftMembers, runCtl } from "./Ctl.ts"
import type { RabbitMQOptions } from "./Infra.ts"
import { awaitMqtt, failureText, firstBoot, makeNodeHandle, type RabbitMQNode, setupNodes } from "./Node.ts"

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

/** Three nodes joined into one cluster: see {@link RabbitMQ.cluster}. */
export const startCluster = (options: RabbitMQOptions = {}): Effect.Effect<RabbitMQClusterHandle, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    const { infra, states } = yield* setupNodes(["r1", "r2", "r3"], options)
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
