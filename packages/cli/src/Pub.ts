/**
 * `aimeqtt pub`.
 *
 * @since 0.1.0
 */
import { outgoingTopicNameError } from "@aimeqtt/codec"
import { Duration, Effect, FileSystem, Option, Stdio, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { checkTopics, connectionFlags, qos, switchFlag, withClient } from "./Connect.ts"
import { report, usage } from "./Failure.ts"
import { concatBytes } from "./Format.ts"

const utf8 = new TextEncoder()

/** `aimeqtt pub`: connect, publish (waiting for the QoS 1/2 flow), disconnect. @since 0.1.0 @category commands */
export const pub = Command.make("pub", {
  ...connectionFlags,
  topic: Flag.String("topic").pipe(Flag.withAlias("t"), Flag.withDescription("Topic to publish to (no wildcards)")),
  qos,
  retain: switchFlag("retain", "r", "Ask the broker to retain the message"),
  message: Flag.String("message").pipe(Flag.withAlias("m"), Flag.withDescription("The message payload"), Flag.optional),
  file: Flag.String("file").pipe(
    Flag.withAlias("f"),
    Flag.withDescription("Send the contents of a file as the message"),
    Flag.optional
  ),
  lines: switchFlag("stdin-line", "l", "Read stdin until EOF and send each non-empty line as a message"),
  stdinFile: switchFlag("stdin-file", "s", "Read stdin until EOF and send it all as one message"),
  nullMessage: switchFlag("null-message", "n", "Send a null (zero-length) message"),
  repeat: Flag.Int("repeat").pipe(
    Flag.withDescription("Publish the message N times (with -m, -f, -s or -n; default 1)"),
    Flag.withDefault(1)
  ),
  repeatDelay: Flag.Finite("repeat-delay").pipe(
    Flag.withDescription("With --repeat: seconds to wait after each message is delivered before the next (default 0)"),
    Flag.withDefault(0)
  ),
  userProperties: Flag.String("user-property").pipe(
    Flag.withDescription("MQTT 5.0: a user property NAME=VALUE (repeatable, in order; mosquitto_pub's -D publish user-property)"),
    Flag.atLeast(0)
  ),
  contentType: Flag.String("content-type").pipe(Flag.withDescription("MQTT 5.0: the message's Content Type"), Flag.optional),
  messageExpiry: Flag.Int("message-expiry").pipe(
    Flag.withDescription("MQTT 5.0: seconds the broker keeps the message for subscribers that have not received it"),
    Flag.optional
  )
}, (c) =>
  Effect.gen(function*() {
    const sources = [Option.isSome(c.message), Option.isSome(c.file), c.lines, c.stdinFile, c.nullMessage].filter(Boolean).length
    if (sources !== 1) {
      return yield* usage("give exactly one message source: -m MESSAGE, -f FILE, -l, -s or -n")
    }
    if (!Number.isInteger(c.repeat) || c.repeat < 1) return yield* usage(`invalid --repeat ${c.repeat}: expected an integer >= 1`)
    if (!(c.repeatDelay >= 0)) return yield* usage(`invalid --repeat-delay ${c.repeatDelay}: expected >= 0 seconds`)
    if (c.repeat > 1 && c.lines) return yield* usage("--repeat needs a single message: -m, -f, -s or -n, not -l")
    yield* checkTopics([c.topic], outgoingTopicNameError)
    const pairs: Array<readonly [string, string]> = []
    for (const entry of c.userProperties) {
      const at = entry.indexOf("=")
      if (at <= 0) return yield* usage(`invalid --user-property ${JSON.stringify(entry)}: expected NAME=VALUE`)
      pairs.push([entry.slice(0, at), entry.slice(at + 1)])
    }
    const properties = {
      ...(pairs.length > 0 ? { userProperties: pairs } : {}),
      ...(Option.isSome(c.contentType) ? { contentType: c.contentType.value } : {}),
      ...(Option.isSome(c.messageExpiry) ? { messageExpiryInterval: c.messageExpiry.value } : {})
    }
    const v5 = Object.keys(properties).length > 0
    if (v5 && c.protocolVersion !== 5) {
      return yield* usage("--user-property, --content-type and --message-expiry are MQTT 5.0: add --protocol-version mqttv5")
    }
    // Property values are checked by the client (InvalidOptions: exit 2, naming the property).
    const options = { qos: c.qos, retain: c.retain, ...(v5 ? { properties } : {}) }
    let fileBytes: Uint8Array = new Uint8Array(0)
    if (Option.isSome(c.file)) {
      const fs = yield* FileSystem.FileSystem
      const path = c.file.value
      fileBytes = yield* fs.readFile(path).pipe(Effect.mapError((error) => usage(`cannot read file ${path}: ${error.message}`)))
    }
    const stdio = yield* Stdio.Stdio
    yield* withClient(c, (client) => {
      if (c.lines) {
        return stdio.stdin.pipe(
          Stream.decodeText,
          Stream.splitLines,
          Stream.filter((line) => line.length > 0),
          Stream.runForEach((line) => client.publish(c.topic, line, options))
        )
      }
      const payload = c.stdinFile
        ? Effect.map(Stream.runCollect(stdio.stdin), concatBytes)
        : Effect.succeed(Option.isSome(c.message) ? utf8.encode(c.message.value) : fileBytes)
      // --repeat: each publish completes (its QoS flow included) before the delay and the next one, as mosquitto_pub.
      const delay = Duration.seconds(c.repeatDelay)
      return Effect.flatMap(payload, (bytes) =>
        Effect.forEach(
          Array.from({ length: c.repeat }, (_, i) => i),
          (i) => i === 0 ? client.publish(c.topic, bytes, options) : Effect.andThen(Effect.sleep(delay), client.publish(c.topic, bytes, options)),
          { discard: true }
        ))
    })
  }).pipe(report)).pipe(
    Command.withDescription(
      "Publish a message (like mosquitto_pub). Exactly one of -m, -f, -l, -s, -n. " +
        "Exit codes: 0 ok, 1 unreachable broker, lost connection or refused publish, 2 usage/invalid topic, 1-5 CONNACK refusal code (5 not authorized; " +
        "MQTT 5.0: the reason code, 128 and up), 130 interrupted."
    )
  )

