/**
 * Small shared helpers for the CLI's tests.
 */
import { MqttClient } from "@aimeqtt/client"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Context, Effect, Exit, Fiber, Layer, Stream } from "effect"
import * as TestConsole from "effect/testing/TestConsole"
import { CliFailure, main } from "../src/Cli.ts"

/**
 * Runs `aimeqtt ...args` in this process (`main` with Node's services and a test console): the exit code a
 * `CliFailure` carries (0 on success, -1 for any other failure) and what went to stderr, as the binary
 * would print it.
 */
export const runInProcess = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const exit = yield* main(args).pipe(Effect.provide(NodeServices.layer), Effect.exit, Effect.timeout("20 seconds"))
    const stderr = (yield* TestConsole.errorLines).map(String).join("\n")
    const failure = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
    const code = failure === undefined ? 0 : failure instanceof CliFailure ? failure.exitCode : -1
    return { code, stderr }
  }).pipe(Effect.provide(TestConsole.layer))

/** A client of `url` subscribed to `topic` (QoS 1); `next` waits (10 s at most) for the next message's text. */
export const listener = (url: string, topic: string) =>
  Effect.gen(function*() {
    const mqtt = yield* Layer.build(MqttClient.layer({ url })).pipe(Effect.map((context) => Context.get(context, MqttClient)))
    const subscription = yield* mqtt.subscription(topic, { qos: 1 })
    const received = yield* subscription.messages.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
    return { next: Fiber.join(received).pipe(Effect.timeout("10 seconds"), Effect.map((messages) => messages[0]?.text)) }
  })
