/**
 * `aimeqtt sub`.
 *
 * @since 0.1.0
 */
import type { Message } from "@aimeqtt/client"
import { outgoingTopicFilterError } from "@aimeqtt/codec"
import { Duration, Effect, Option, Result, Stdio, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { checkTopics, connectionFlags, qos, switchFlag, withClient } from "./Connect.ts"
import type { PacketObserver } from "./Debug.ts"
import { CliFailure, ExitCode, report, usage } from "./Failure.ts"
import { concatBytes, type FormatPart, parseFormat, renderFormat, usesPacketId } from "./Format.ts"

const utf8 = new TextEncoder()
const newline = utf8.encode("\n")
const space = utf8.encode(" ")

/**
 * The line `aimeqtt sub` prints for a message in `--json` or `-V` mode, as text (the payload decoded as
 * UTF-8). The default output is the raw payload bytes: see {@link renderMessage}.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatMessage = (message: Message, format: { readonly verbose: boolean; readonly json: boolean }): string => {
  if (format.json) {
    // MQTT 5.0 properties when the message has any (Correlation Data as hex, user properties as [name, value] pairs).
    // (Subscription Identifiers are the client's own routing numbers: not shown.)
    const { subscriptionIdentifiers: _, ...p } = message.properties ?? {}
    const properties = Object.keys(p).length === 0 ? undefined : {
      ...p,
      ...(p.correlationData !== undefined ? { correlationData: Array.from(p.correlationData, (b) => b.toString(16).padStart(2, "0")).join("") } : {})
    }
    return JSON.stringify({
      topic: message.topic,
      payload: message.text,
      qos: message.qos,
      retain: message.retain,
      ...(properties !== undefined ? { properties } : {})
    })
  }
  return format.verbose ? `${message.topic} ${message.text}` : message.text
}

/** How `sub` prints each message. @since 0.2.0 @category formatting */
export interface OutputMode {
  /** One JSON object per message (`--json`); the payload is decoded as UTF-8. */
  readonly json: boolean
  /** `topic payload` (`-V`); the payload is written as raw bytes. */
  readonly verbose: boolean
  /** A compiled `-F` format (wins over `-V`). */
  readonly format: ReadonlyArray<FormatPart> | undefined
  /** `-N`: no newline after each message. */
  readonly noEol: boolean
}

/**
 * The bytes `aimeqtt sub` writes to stdout for a message: the payload as received (no decoding, so a
 * binary payload is reproduced exactly), `topic payload` with `-V`, the `-F` format, or a JSON object with
 * `--json`; then a newline unless `-N`. `packetId` feeds `%m` (0 when unknown).
 *
 * @since 0.2.0
 * @category formatting
 */
export const renderMessage = (message: Message, mode: OutputMode, packetId = 0): Uint8Array => {
  const body: ReadonlyArray<Uint8Array> = mode.json
    ? [utf8.encode(formatMessage(message, { verbose: false, json: true }))]
    : mode.format !== undefined
    ? [renderFormat(mode.format, { topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain, packetId })]
    : mode.verbose
    ? [utf8.encode(message.topic), space, message.payload]
    : [message.payload]
  return concatBytes(mode.noEol ? body : [...body, newline])
}

/** `aimeqtt sub`: subscribe and print messages, until `-C` messages arrived, `-W` elapsed or interrupted. @since 0.1.0 @category commands */
export const sub = Command.make("sub", {
  ...connectionFlags,
  topics: Flag.String("topic").pipe(
    Flag.withAlias("t"),
    Flag.withDescription("Topic filter to subscribe to (repeatable; + and # allowed); required unless -U is given"),
    Flag.atLeast(0)
  ),
  unsubscribe: Flag.String("unsubscribe").pipe(
    Flag.withAlias("U"),
    Flag.withDescription("Topic filter to unsubscribe from, after the -t subscriptions (repeatable; for -c sessions)"),
    Flag.atLeast(0)
  ),
  qos,
  count: Flag.Int("count").pipe(
    Flag.withAlias("C"),
    Flag.withDescription("Exit after this many messages (default: run until interrupted)"),
    Flag.optional
  ),
  timeout: Flag.Finite("timeout").pipe(
    Flag.withAlias("W"),
    Flag.withDescription("Exit with code 27 after this many seconds from connecting, unless -C messages arrived first"),
    Flag.optional
  ),
  verbose: switchFlag("verbose", "V", "Print \"topic payload\" (mosquitto_sub -v; -v is --version here)"),
  json: switchFlag("json", "j", "Print one JSON object per message: {topic, payload, qos, retain}"),
  format: Flag.String("format").pipe(
    Flag.withAlias("F"),
    Flag.withDescription("Output format, as mosquitto_sub -F: %t %p %q %r %l %m %x %X %% and \\n \\t escapes"),
    Flag.optional
  ),
  noEol: switchFlag("no-eol", "N", "Do not print a newline after each message"),
  noRetained: switchFlag("no-retained", "R", "Do not print stale messages (those with the retain flag set)")
}, (c) =>
  Effect.gen(function*() {
    if (Option.isSome(c.count) && c.count.value < 1) return yield* usage(`invalid count ${c.count.value}: expected >= 1`)
    if (Option.isSome(c.timeout) && !(c.timeout.value > 0)) {
      return yield* usage(`invalid --timeout (-W) ${c.timeout.value}: expected > 0 seconds`)
    }
    if (c.topics.length === 0 && c.unsubscribe.length === 0) return yield* usage("give a topic filter to subscribe to: --topic (-t)")
    let format: ReadonlyArray<FormatPart> | undefined
    if (Option.isSome(c.format)) {
      if (c.json) return yield* usage("--format (-F) and --json are two output formats: give one")
      const parsed = parseFormat(c.format.value)
      if (Result.isFailure(parsed)) return yield* usage(parsed.failure)
      format = parsed.success
    }
    yield* checkTopics([...c.topics, ...c.unsubscribe], outgoingTopicFilterError)
    const mode: OutputMode = { json: c.json, verbose: c.verbose, format, noEol: c.noEol }

    // %m: the packet identifier of each message, matched by its payload (the PUBLISH's own buffer view).
    const packetIds = new WeakMap<Uint8Array, number>()
    const observe: PacketObserver | undefined = format !== undefined && usesPacketId(format)
      ? ({ direction, packet }) =>
        Effect.sync(() => {
          if (direction === "received" && packet._tag === "Publish" && packet.packetId !== undefined) {
            packetIds.set(packet.payload, packet.packetId)
          }
        })
      : undefined

    const stdio = yield* Stdio.Stdio
    yield* withClient(c, (client) => {
      const work = Effect.scoped(Effect.gen(function*() {
        if (c.topics.length === 0) {
          // only -U: unsubscribe, and done once the broker acknowledged it
          return yield* client.unsubscribe(c.unsubscribe)
        }
        // SUBACK first, then the unsubscriptions, as mosquitto_sub (-t before -U)
        const subscription = yield* client.subscription(c.topics, { qos: c.qos })
        if (c.unsubscribe.length > 0) yield* client.unsubscribe(c.unsubscribe)
        const shown = c.noRetained ? Stream.filter(subscription.messages, (message) => !message.retain) : subscription.messages
        const limited = Option.isSome(c.count) ? Stream.take(shown, c.count.value) : shown
        return yield* limited.pipe(
          Stream.map((message) => renderMessage(message, mode, packetIds.get(message.payload) ?? 0)),
          Stream.run(stdio.stdout())
        )
      }))
      return Option.match(c.timeout, {
        onNone: () => work,
        onSome: (seconds) =>
          Effect.timeoutOrElse(work, {
            duration: Duration.seconds(seconds),
            orElse: () =>
              Effect.fail(new CliFailure({ message: `timed out after ${seconds}s (-W)`, exitCode: ExitCode.timeout }))
          })
      })
    }, observe)
  }).pipe(report)).pipe(
    Command.withDescription(
      "Subscribe and print messages (like mosquitto_sub). " +
        "Exit codes: 0 ok, 1 unreachable broker or lost connection, 2 usage/invalid topic, 1-5 CONNACK refusal code (5 not authorized), " +
        "27 -W timeout, 130 interrupted."
    )
  )
