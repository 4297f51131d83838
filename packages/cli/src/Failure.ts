/**
 * How `aimeqtt` fails: exit codes, the {@link CliFailure} error, and the explanation of client errors.
 *
 * @since 0.1.0
 */
import type { InvalidOptions, MqttError } from "@aimeqtt/client"
import { Console, Data, Effect, type PlatformError, Runtime } from "effect"

/**
 * Process exit codes of `aimeqtt`.
 *
 * A refused connection exits with the CONNACK return code, like `mosquitto_pub`/`mosquitto_sub`
 * (1 unacceptable protocol version, 2 identifier rejected, 3 server unavailable, 4 bad user name or
 * password, 5 not authorized), so 1 and 2 are shared with the general codes below; the message on
 * stderr tells them apart.
 *
 * @since 0.1.0
 * @category errors
 */
export const ExitCode = {
  /** Done: published, or received the `-C` messages. */
  ok: 0,
  /**
   * The broker could not be reached (at once, as `mosquitto_pub`/`mosquitto_sub`; with `--retry`, within
   * `--connect-timeout`), or the connection failed later.
   */
  connectFailed: 1,
  /** Bad usage: unknown or missing flags, invalid topic, invalid URL, unreadable file. */
  usage: 2,
  /** `sub -W`: the timeout elapsed before `-C` messages arrived (libmosquitto's `MOSQ_ERR_TIMEOUT`, as `mosquitto_sub -W`). */
  timeout: 27,
  /** Stopped by SIGINT / SIGTERM (after a clean DISCONNECT). */
  interrupted: 130
} as const

/**
 * A failure already explained to the user: carries the message (printed once on stderr by
 * {@link main}) and the process exit code (read by `NodeRuntime.runMain` through
 * `Runtime.errorExitCode`; `Runtime.errorReported` is false so the runtime does not log it again).
 *
 * @since 0.1.0
 * @category errors
 */
export class CliFailure extends Data.TaggedError("CliFailure")<{
  readonly message: string
  readonly exitCode: number
}> {
  /** Exit code used by `NodeRuntime.runMain`'s default teardown. */
  override get [Runtime.errorExitCode](): number {
    return this.exitCode
  }
  /** Already printed: the runtime must not log it. */
  override get [Runtime.errorReported](): boolean {
    return false
  }
}

/** A usage failure (exit 2). @since 0.1.0 @category errors */
export const usage = (message: string) => new CliFailure({ message, exitCode: ExitCode.usage })

/**
 * The client's option names in its messages, as the CLI's flags (longest first, so `tls.alpnProtocols` is not
 * read as `tls.a...`): the user of `aimeqtt` never wrote `tls.ca`.
 */
const flagNames: ReadonlyArray<readonly [string, string]> = [
  ["the proxy option's URL", "--proxy"],
  ["in the proxy option", "in --proxy"],
  ["tls.alpnProtocols", "--tls-alpn"],
  ["tls.minVersion", "--tls-version"],
  ["tls.passphrase", "--key-passphrase (or MQTT_KEY_PASSPHRASE)"],
  ["tls.servername", "--servername"],
  ["tls.key or tls.pfx", "--key"],
  ["tls.cert and tls.key (or tls.pfx)", "--cert and --key"],
  ["tls.cert and tls.key", "--cert and --key"],
  ["tls.ciphers", "--ciphers"],
  ["tls.cert", "--cert"],
  ["tls.key", "--key"],
  ["tls.ca", "--cafile"],
  ["websocket.headers", "--ws-header"]
]

/** `message` with the client's option names replaced by the flags that set them. */
const inFlagTerms = (message: string): string =>
  flagNames.reduce((text, [option, flag]) => text.split(option).join(flag), message)

/**
 * Explains an error of the client (or of stdin/file I/O) as a {@link CliFailure} with its exit code.
 *
 * @since 0.1.0
 * @category errors
 */
export const toFailure = (error: MqttError | InvalidOptions | PlatformError.PlatformError | CliFailure, address: string): CliFailure => {
  switch (error._tag) {
    case "CliFailure":
      return error
    case "InvalidOptions":
      return new CliFailure({ message: inFlagTerms(error.message), exitCode: ExitCode.usage })
    case "ConnectionRefused":
      return new CliFailure({
        // MQTT 3.1.1: return codes 1..5 (exit 1..5, as mosquitto); MQTT 5.0: the reason code (0x80 and up, as mosquitto's -V mqttv5).
        message: error.protocolVersion === 4
          ? `Connection refused: ${error.reason} (CONNACK return code ${error.reasonCode})`
          : `Connection refused: ${error.reason} (CONNACK reason code 0x${error.reasonCode.toString(16)})` +
            (error.reasonString === undefined ? "" : `: ${error.reasonString}`),
        exitCode: error.reasonCode
      })
    case "ConnectError":
      return new CliFailure({
        // the client's message usually reads "could not connect within Ns: could not connect to URL: cause"
        message: inFlagTerms(error.message.includes("could not connect") ? error.message : `could not connect to ${address}: ${error.message}`),
        exitCode: ExitCode.connectFailed
      })
    case "ConnectionLost":
      return new CliFailure({ message: `connection to ${address} lost: ${error.message}`, exitCode: ExitCode.connectFailed })
    case "InvalidTopic":
      return new CliFailure({
        message: `invalid topic ${JSON.stringify(error.topic)}: ${error.reason}`,
        exitCode: ExitCode.usage
      })
    case "PlatformError":
      return new CliFailure({ message: `I/O error: ${error.message}`, exitCode: ExitCode.connectFailed })
    default:
      return new CliFailure({ message: error.message, exitCode: ExitCode.connectFailed })
  }
}

/** Prints a failure on stderr, then fails with it (so the exit code reaches the runtime). @since 0.1.0 @category errors */
export const report = <A, R>(effect: Effect.Effect<A, CliFailure, R>): Effect.Effect<A, CliFailure, R> =>
  Effect.tapError(effect, (failure) => Console.error(`aimeqtt: ${failure.message}`))

