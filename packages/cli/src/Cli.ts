/**
 * The `aimeqtt` command line: `aimeqtt pub` and `aimeqtt sub`, in the habits of `mosquitto_pub` and
 * `mosquitto_sub`, built with `effect/cli` on top of `@aimeqtt/client`.
 *
 * Exported for in-process use and tests; `bin.ts` only runs {@link main} with the Node services.
 *
 * @since 0.1.0
 */
import { Effect, Logger } from "effect"
import { Command } from "effect/cli"
import { CliFailure, ExitCode } from "./Failure.ts"
import { pub } from "./Pub.ts"
import { sub } from "./Sub.ts"

export * from "./Connect.ts"
export * from "./Failure.ts"
export * from "./Pub.ts"
export * from "./Sub.ts"

/** The version printed by `aimeqtt --version` (kept equal to package.json's). @since 0.1.0 */
export const VERSION = "0.1.0"

/** The `aimeqtt` command with its `pub` and `sub` subcommands. @since 0.1.0 */
export const app = Command.make("aimeqtt").pipe(
  Command.withDescription("MQTT 3.1.1 command-line client: aimeqtt pub / aimeqtt sub"),
  Command.withSubcommands([pub, sub])
)

/**
 * Runs {@link app} on `argv` (default: the process arguments, from the `Stdio` service).
 * Parse errors (already printed with the help) become a usage {@link CliFailure} (exit 2); a bare
 * `aimeqtt` prints the help and succeeds. Logs (e.g. the client's `--insecure` warning) go to stderr,
 * keeping stdout for the messages of `sub`.
 *
 * @since 0.1.0
 */
export const main = (
  argv?: ReadonlyArray<string>
): Effect.Effect<void, CliFailure, Command.Environment> =>
  (argv === undefined ? Command.run(app, { version: VERSION }) : Command.runWith(app, { version: VERSION })(argv)).pipe(
    Effect.catch((error) => {
      if (error._tag === "CliFailure") return Effect.fail(error)
      if (error._tag === "ShowHelp" && error.errors.length === 0) return Effect.void
      return Effect.fail(new CliFailure({ message: error.message, exitCode: ExitCode.usage }))
    }),
    Effect.provideService(Logger.LogToStderr, true)
  )
