/**
 * `aimeqtt sub`.
 *
 * @since 0.1.0
 */
import type { Message } from "@aimeqtt/client"
import { outgoingTopicFilterError } from "@aimeqtt/codec"
import { Console, Effect, Option, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { checkTopics, connectionFlags, qos, switchFlag, withClient } from "./Connect.ts"
import { report, usage } from "./Failure.ts"

/** The line `aimeqtt sub` prints for a message. @since 0.1.0 */
export const formatMessage = (message: Message, format: { readonly verbose: boolean; readonly json: boolean }): string => {
  if (format.json) {
    return JSON.stringify({ topic: message.topic, payload: message.text, qos: message.qos, retain: message.retain })
  }
  return format.verbose ? `${message.topic} ${message.text}` : message.text
}

/** `aimeqtt sub`: subscribe and print messages, until `-C` messages arrived or interrupted. @since 0.1.0 */
export const sub = Command.make("sub", {
  ...connectionFlags,
  topics: Flag.String("topic").pipe(
    Flag.withAlias("t"),
    Flag.withDescription("Topic filter to subscribe to (repeatable; + and # allowed)"),
    Flag.atLeast(1)
  ),
  qos,
  count: Flag.Int("count").pipe(
    Flag.withAlias("C"),
    Flag.withDescription("Exit after this many messages (default: run until interrupted)"),
    Flag.optional
  ),
  verbose: switchFlag("verbose", "V", "Print \"topic payload\" (mosquitto_sub -v; -v is --version here)"),
  json: switchFlag("json", "j", "Print one JSON object per message: {topic, payload, qos, retain}")
}, (c) =>
  Effect.gen(function*() {
    if (Option.isSome(c.count) && c.count.value < 1) return yield* usage(`invalid count ${c.count.value}: expected >= 1`)
    yield* checkTopics(c.topics, outgoingTopicFilterError)
    yield* withClient(c, (client) => {
      const messages = client.subscribe(c.topics, { qos: c.qos })
      const limited = Option.isSome(c.count) ? Stream.take(messages, c.count.value) : messages
      return Stream.runForEach(limited, (message) => Console.log(formatMessage(message, c)))
    })
  }).pipe(report)).pipe(
    Command.withDescription(
      "Subscribe and print messages (like mosquitto_sub). " +
        "Exit codes: 0 ok, 1 unreachable broker, 2 usage/invalid topic, 1-5 CONNACK refusal code (5 not authorized), 130 interrupted."
    )
  )

