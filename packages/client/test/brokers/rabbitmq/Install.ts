/** Whether RabbitMQ is installed (the real scripts, and Erlang's epmd), and the guards of the tests that need it. */
import type { Effect } from "effect"
import * as Path from "node:path"
import { guardsFor } from "../Guards.ts"
import { type BrokerError, executableAt, findExecutable } from "../internal.ts"

/** Where the Debian package puts the real scripts (not the `su rabbitmq` wrappers of /usr/sbin). */
const RABBITMQ_BIN_DIR = "/usr/lib/rabbitmq/bin"

/** `/usr/lib/rabbitmq/bin/rabbitmq-server`, or `undefined` when RabbitMQ is not installed. */
export const rabbitmqServerBinary: string | undefined = executableAt(Path.join(RABBITMQ_BIN_DIR, "rabbitmq-server"))
/** `/usr/lib/rabbitmq/bin/rabbitmqctl`, or `undefined`. */
export const rabbitmqctlBinary: string | undefined = executableAt(Path.join(RABBITMQ_BIN_DIR, "rabbitmqctl"))
/** Erlang's `epmd` (a dependency of the package), or `undefined`. */
export const epmdBinary: string | undefined = findExecutable("epmd")

/** `true` when `rabbitmq-server`, `rabbitmqctl` (in /usr/lib/rabbitmq/bin) and `epmd` are installed. */
export const rabbitmqAvailable: boolean = rabbitmqServerBinary !== undefined && rabbitmqctlBinary !== undefined &&
  epmdBinary !== undefined

export const MISSING = "rabbitmq-server is required under CI (install: apt-get install -y rabbitmq-server)"

const rabbitmqGuards = guardsFor({
  available: rabbitmqAvailable,
  missing: MISSING,
  testUnderCI: "rabbitmq-server is required under CI",
  skipReason: "rabbitmq-server not installed. Install with: apt-get install -y rabbitmq-server"
})

/**
 * `describe` for tests that need RabbitMQ. When it is missing: under CI (`CI=true`) the block holds a single
 * failing test "rabbitmq-server is required under CI"; otherwise the block is skipped with a loud console warning.
 */
export const describeRabbitMQ: (name: string, fn: () => void) => void = rabbitmqGuards.describe

/** Effect guard for a single test: fails with {@link BrokerError} when RabbitMQ is missing. */
export const requireRabbitMQ: Effect.Effect<void, BrokerError> = rabbitmqGuards.require
