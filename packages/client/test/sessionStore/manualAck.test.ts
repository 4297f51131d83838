/**
 * A manual-ack stream and a durable session store (file, SQLite): a message received but not acknowledged
 * when the process is killed is delivered again by the next process with the same client id. (The QoS 2
 * id used to be stored on receipt, so the broker's re-delivery was taken for a duplicate and dropped.)
 */
import { MqttClient } from "@aimeqtt/client"
import { assert, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as FileSessionStore from "../../src/FileSessionStore.ts"
import * as SqliteSessionStore from "../../src/SqliteSessionStore.ts"
import { describeMosquitto, Mosquitto, mosquittoPub } from "../brokers/index.ts"
import { tempDir, uniqueId } from "../util.ts"

/** Starts a process subscribed with a manual-ack stream that never acknowledges; resolves once it received a message. */
const receiverThatNeverAcks = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.callback<ChildProcess.ChildProcess, Error>((resume) => {
      const script = [
        "const client = await import('@aimeqtt/client')",
        "const { Effect, Layer, Stream, Console } = await import('effect')",
        "const store = process.env.STORE === 'file' ? client.FileSessionStore.layer(process.env.DIR) : client.SqliteSessionStore.layer(process.env.DIR + '/s.db')",
        "const layer = client.MqttClient.layer({ url: process.env.URL, clientId: process.env.ID, cleanSession: false }).pipe(Layer.provide(store))",
        "await Effect.runPromise(Effect.gen(function*() {" +
        "  const mqtt = yield* client.MqttClient;" +
        "  const sub = yield* mqtt.subscription('manual/#', { qos: Number(process.env.QOS), ack: 'manual' });" +
        "  console.log('subscribed');" +
        "  yield* sub.messages.pipe(Stream.runForEach((m) => Console.log('received ' + m.text)));" +
        "}).pipe(Effect.provide(layer), Effect.scoped))"
      ]
      const child = ChildProcess.spawn(process.execPath, ["--conditions=@aimeqtt/source", "--input-type=module", "-e", script.join(";\n")], {
        cwd: fileURLToPath(new URL("../..", import.meta.url)),
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      let subscribed = false
      child.stderr.on("data", (chunk: Buffer) => void (err += chunk.toString()))
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        if (!subscribed && out.includes("subscribed")) {
          subscribed = true
          resume(Effect.succeed(child))
        }
      })
      child.on("exit", (code) => {
        if (!subscribed) resume(Effect.fail(new Error(`the receiver exited (${String(code)}) before subscribing: ${out}\n${err}`)))
      })
      ;(child as { output?: () => string }).output = () => out
    }),
    (child) => Effect.sync(() => void child.kill("SIGKILL"))
  )

const outputOf = (child: ChildProcess.ChildProcess): string => (child as { output?: () => string }).output?.() ?? ""

const stores = {
  file: (dir: string) => FileSessionStore.layer(dir),
  sqlite: (dir: string) => SqliteSessionStore.layer(Path.join(dir, "s.db"))
} as const

describeMosquitto("manual acknowledgement and a durable store (mosquitto)", () => {
  for (const store of ["file", "sqlite"] as const) {
    for (const qos of [1, 2] as const) {
      it.live(`${store} store, QoS ${qos}: a message not acknowledged when the process is killed is delivered to the next process`, () =>
        Effect.gen(function*() {
          const broker = yield* Mosquitto.start()
          const dir = yield* tempDir("aimeqtt-manual-")
          const id = uniqueId("manual")
          const child = yield* receiverThatNeverAcks({ URL: broker.url, DIR: dir, ID: id, QOS: String(qos), STORE: store })
          yield* mosquittoPub({ port: broker.port, topic: "manual/1", message: "job-42", qos: 2 })
          const deadline = Date.now() + 10_000
          while (!outputOf(child).includes("received job-42") && Date.now() < deadline) yield* Effect.sleep("20 millis")
          assert.include(outputOf(child), "received job-42", "the first process got the message")
          child.kill("SIGKILL")
          yield* Effect.callback<void>((resume) => {
            if (child.exitCode !== null || child.signalCode !== null) resume(Effect.void)
            else child.once("exit", () => resume(Effect.void))
          })

          const scope = yield* Scope.make()
          const layer = MqttClient.layer({ url: broker.url, clientId: id, cleanSession: false, connectTimeout: "5 seconds" }).pipe(
            Layer.provide(stores[store](dir))
          )
          const mqtt = yield* Layer.build(layer).pipe(Effect.map((context) => Context.get(context, MqttClient)), Scope.provide(scope))
          const subscription = yield* mqtt.subscription("manual/#", { qos, ack: "manual" })
          const first = yield* subscription.messages.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
          const got = yield* Fiber.join(first).pipe(Effect.timeout("10 seconds"))
          assert.deepStrictEqual(got.map((m) => [m.text, m.dup]), [["job-42", true]])
          yield* got[0]!.ack
          yield* Scope.close(scope, Exit.void)
        }).pipe(Effect.scoped), 40_000)
    }
  }
})
