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
 *
 * The modules under `rabbitmq/`: `Install` (is it installed; the test guards), `Infra` (options, temp dir, cookie,
 * epmd, ports), `Config` (a node's environment and files), `Ctl` (`rabbitmqctl`), `Node` (a node's process and
 * handle), `Cluster` (the 3-node cluster); `../Processes.ts` tracks and stops every process by PID.
 */
import { Context, Layer } from "effect"
import type { BrokerError } from "./internal.ts"
import { type RabbitMQClusterHandle, startCluster } from "./rabbitmq/Cluster.ts"
import type { RabbitMQOptions } from "./rabbitmq/Infra.ts"
import { type RabbitMQNode, startNode } from "./rabbitmq/Node.ts"

export { processesAlive } from "./Processes.ts"
export type { RabbitMQClusterHandle } from "./rabbitmq/Cluster.ts"
export type { RabbitMQOptions } from "./rabbitmq/Infra.ts"
export {
  describeRabbitMQ,
  epmdBinary,
  rabbitmqAvailable,
  rabbitmqctlBinary,
  rabbitmqServerBinary,
  requireRabbitMQ
} from "./rabbitmq/Install.ts"
export type { RabbitMQNode, RabbitMQSignal } from "./rabbitmq/Node.ts"

/** Real RabbitMQ nodes on loopback. */
export const RabbitMQ = {
  /**
   * One node (`r1@localhost`) in a fresh temp dir with its own epmd; resolves when its MQTT port accepts
   * (bounded by `startTimeoutMs`, default 60 s; a failure carries the tail of the node's log).
   * Cold start: ~10 s on 2 cores.
   */
  start: startNode,

  /**
   * Three nodes started in parallel (one epmd, one cookie), then `r2` and `r3` joined to `r1` (`stop_app`,
   * `join_cluster r1@localhost`, `start_app`); resolves when all three MQTT ports accept again and the MQTT
   * plugin's Raft cluster has 3 members. Takes ~15–20 s on 2 cores: start it once per test file (see
   * {@link RabbitMQCluster.layer}).
   */
  cluster: startCluster
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
