/**
 * The guards of the tests that need a broker installed on the machine (mosquitto, RabbitMQ, ejabberd): a
 * `describe` that runs, fails under CI or skips loudly, and an Effect guard for a single test.
 */
import { describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { BrokerError } from "./internal.ts"

/** `true` when `process.env.CI === "true"`: a missing broker then fails the tests instead of skipping them. */
export const isCI: boolean = process.env.CI === "true"

/** What a broker's guards say: whether it can run, and what is said when it cannot. */
export interface Requirement {
  /** The broker is installed and may be started by this process. */
  readonly available: boolean
  /** The failure of {@link Guards.require} (and so of the single test under CI). */
  readonly missing: string
  /** The name of the single failing test a `describe` block holds under CI, e.g. "ejabberd is required under CI". */
  readonly testUnderCI: string
  /** Why the block is skipped, in the console warning outside CI. */
  readonly skipReason: string
}

/** The guards of one broker, made by {@link guardsFor}. */
export interface Guards {
  /**
   * `describe` for tests that need the broker. When it is missing: under CI (`CI=true`) the block holds a single
   * failing test {@link Requirement.testUnderCI}; otherwise the block is skipped with a loud console warning.
   */
  readonly describe: (name: string, fn: () => void) => void
  /** Effect guard for a single test: fails with {@link BrokerError} {@link Requirement.missing} when it is missing. */
  readonly require: Effect.Effect<void, BrokerError>
}

export const guardsFor = (requirement: Requirement): Guards => {
  const require: Effect.Effect<void, BrokerError> = Effect.suspend(() =>
    requirement.available ? Effect.void : Effect.fail(new BrokerError({ message: requirement.missing }))
  )
  const describeIt = (name: string, fn: () => void): void => {
    if (requirement.available) {
      describe(name, fn)
    } else if (isCI) {
      describe(name, () => {
        it.effect(requirement.testUnderCI, () => require)
      })
    } else {
      console.warn(`\n!!!!!!!! SKIPPING "${name}": ${requirement.skipReason} !!!!!!!!\n`)
      describe.skip(name, fn)
    }
  }
  return { describe: describeIt, require }
}
