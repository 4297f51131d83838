/**
 * The `aimeqtt` command line: `aimeqtt pub` and `aimeqtt sub`, in the habits of `mosquitto_pub` and
 * `mosquitto_sub`, built with `effect/cli` on top of `@aimeqtt/client`.
 *
 * Exported for in-process use and tests; `bin.ts` only runs {@link main} with the Node services.
 *
 * @since 0.1.0
 */
import { Effect, Logger, Stdio } from "effect"
import { Command } from "effect/cli"
import { CliFailure, ExitCode, report } from "./Failure.ts"
import { pub } from "./Pub.ts"
import { sub } from "./Sub.ts"

export * from "./Connect.ts"
export * from "./Debug.ts"
export * from "./Failure.ts"
export * from "./Format.ts"
export * from "./Pub.ts"
export * from "./Sub.ts"

/** The version printed by `aimeqtt --version` (kept equal to package.json's). @since 0.1.0 @category cli */
export const VERSION = "0.1.0"

/** The `aimeqtt` command with its `pub` and `sub` subcommands. @since 0.1.0 @category cli */
export const app = Command.make("aimeqtt").pipe(
  Command.withDescription("MQTT 3.1.1 and 5.0 command-line client: aimeqtt pub / aimeqtt sub"),
  Command.withSubcommands([pub, sub])
)

/**
 * Runs {@link app} on `argv` (default: the process arguments, from the `Stdio` service).
 * Parse errors (already printed with the help) become a usage {@link CliFailure} (exit 2); a bare
 * `aimeqtt` prints the help and succeeds. Logs (e.g. the client's `--insecure` warning) go to stderr,
 * keeping stdout for the messages of `sub`.
 *
 * @since 0.1.0
 * @category cli
 */
export const main = (
  argv?: ReadonlyArray<string>
): Effect.Effect<void, CliFailure, Command.Environment> =>
  Effect.flatMap(argv === undefined ? Effect.flatMap(Stdio.Stdio, (stdio) => stdio.args) : Effect.succeed(argv), (args) => {
    const habit = mosquittoHabit(args)
    return habit === undefined ? run(argv) : report(Effect.fail(new CliFailure({ message: habit, exitCode: ExitCode.usage })))
  })

/**
 * A mosquitto habit that would print the help or the version and exit 0 without doing what was asked:
 * `-h` (mosquitto's host) or `-v` (mosquitto_sub's verbose) next to other arguments. In a script, that
 * would be a silent false success, so it is a usage error (exit 2) with the flag to use instead.
 */
const mosquittoHabit = (args: ReadonlyArray<string>): string | undefined => {
  const others = args.filter((arg) => arg !== "pub" && arg !== "sub" && arg !== "-h" && arg !== "-v")
  if (others.length === 0) return undefined
  if (args.includes("-h")) return "-h is --help here: give the broker host with -H or --host (mosquitto's -h)"
  if (args.includes("-v")) return "-v is --version here: print \"topic payload\" with -V or --verbose (mosquitto_sub's -v)"
  return undefined
}

const run = (argv: ReadonlyArray<string> | undefined): Effect.Effect<void, CliFailure, Command.Environment> =>
  (argv === undefined ? Command.run(app, { version: VERSION }) : Command.runWith(app, { version: VERSION })(argv)).pipe(
    Effect.catch((error) => {
      if (error._tag === "CliFailure") return Effect.fail(error)
      if (error._tag === "ShowHelp" && error.errors.length === 0) return Effect.void
      return Effect.fail(new CliFailure({ message: error.message, exitCode: ExitCode.usage }))
    }),
    Effect.provideService(Logger.LogToStderr, true)
  )
