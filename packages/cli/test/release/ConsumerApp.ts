/**
 * The consumer app: a user's project outside the workspace, on the minimum Node, with its files (a Node app, a
 * browser app, three strict tsconfigs, a vitest test), its environment, and readers of its tools' output.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

/** The minimum supported Node, exactly: the consumer app runs on it. */
export const CONSUMER_NODE = "22.19.0"
/** A generous bound on the gzip size of the whole browser bundle, against regressions such as Node-only dependencies in it. */
export const MAX_BROWSER_GZIP = 250 * 1024

/**
 * The environment of the app's tools: they run on the app's Node (`#!/usr/bin/env node` finds
 * node_modules/.bin/node first); the outer vitest's variables and NODE_OPTIONS stay out of the inner tools.
 */
export const consumerEnv = (app: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && !["NODE_OPTIONS", "NODE_ENV", "TEST"].includes(key))
  )
  env.PATH = `${Path.join(app, "node_modules", ".bin")}${Path.delimiter}${process.env.PATH ?? ""}`
  return env
}

export interface Metafile {
  readonly inputs: Record<string, unknown>
  readonly outputs: Record<string, {
    readonly bytes: number
    readonly imports: ReadonlyArray<{ readonly path: string; readonly external?: boolean }>
    readonly inputs: Record<string, { readonly bytesInOutput: number }>
  }>
}

export interface VitestJsonReport {
  readonly success: boolean
  readonly numTotalTests: number
  readonly numPassedTests: number
}

/** `file(line,col): error TSnnnn: message` lines of tsc's (non-pretty) output. */
export const tscErrors = (output: string) =>
  output.split("\n").flatMap((line) => {
    const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line)
    return m === null ? [] : [{ file: m[1] ?? "", code: m[4] ?? "", line }]
  })

/** The files tsc's `--listFiles` printed (absolute paths). */
export const listedFiles = (output: string) => output.split("\n").filter((line) => line.startsWith("/"))

const strict = {
  target: "ES2022",
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: false,
  verbatimModuleSyntax: true,
  noEmit: true
}

/** The consumer app's files: its manifest, three tsconfigs, a Node app, a browser app, a vitest test. */
const consumerFiles: Record<string, string> = {
  "package.json": JSON.stringify({ name: "aimeqtt-consumer", private: true, type: "module" }, null, 2),
  // A Node app. Node's own ESM resolution: module/moduleResolution NodeNext. No DOM lib: effect 4.1's own
  // .d.ts files name a few DOM types (CryptoKey, JsonWebKey, Transferable), tolerated below, only there.
  "tsconfig.nodenext.json": JSON.stringify({
    compilerOptions: { ...strict, lib: ["ES2022"], module: "NodeNext", moduleResolution: "NodeNext", types: ["node"] },
    files: ["app.ts"]
  }),
  // The same app under a bundler's resolution, plus browser-types.ts, whose `@ts-expect-error` must then
  // be unused (TS2578): the Node entry does export FileSessionStore, which proves the directive is live.
  "tsconfig.bundler.json": JSON.stringify({
    compilerOptions: { ...strict, lib: ["ES2022", "DOM"], module: "preserve", moduleResolution: "bundler", types: ["node"] },
    files: ["app.ts", "browser-types.ts"]
  }),
  // A browser-only app: the `browser` condition, the DOM, no Node types at all.
  "tsconfig.browser.json": JSON.stringify({
    compilerOptions: {
      ...strict,
      lib: ["ES2022", "DOM"],
      module: "preserve",
      moduleResolution: "bundler",
      customConditions: ["browser"],
      types: []
    },
    files: ["browser.ts", "browser-types.ts"]
  }),
  "app.ts": `import { type ConnectionRefused, type InvalidOptions, type Message, MqttClient, parseUrl } from "@aimeqtt/client"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Option, Stream } from "effect"

const url = process.argv[2] ?? "mqtt://127.0.0.1:1883"
const topic = \`consumer/\${process.pid}\`

const describe = (message: Message): string => \`\${message.topic} \${message.text} qos=\${message.qos}\`

const roundTrip = Effect.gen(function*() {
  const mqtt = yield* MqttClient
  const subscription = yield* mqtt.subscription(topic, { qos: 1 })
  const granted: number | undefined = subscription.granted[0]
  yield* Console.log(\`subscribed granted=\${String(granted)}\`)
  yield* mqtt.publish(topic, "hello from an npm consumer", { qos: 1 })
  yield* Console.log("published qos=1")
  const first = yield* subscription.messages.pipe(Stream.runHead)
  yield* Console.log(\`received \${Option.match(first, { onNone: () => "nothing", onSome: describe })}\`)
}).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  yield* Console.log(\`node \${process.version}\`)
  const endpoint = yield* parseUrl(url)
  yield* Console.log(\`endpoint \${endpoint.protocol} \${endpoint.host}:\${endpoint.port}\`)
  const rejected: InvalidOptions = yield* Effect.flip(parseUrl("localhost:1883"))
  yield* Console.log(\`rejected \${rejected._tag}\`)
  yield* roundTrip.pipe(Effect.provide(MqttClient.layer({ url, connectTimeout: "5 seconds" })))
}).pipe(
  Effect.catchTag("ConnectionRefused", (error: ConnectionRefused) => Effect.die(\`refused: \${error.reason}\`)),
  Effect.timeout("20 seconds")
)

NodeRuntime.runMain(program)
`,
  "browser.ts": `import { MqttClient, parseUrl } from "@aimeqtt/client"
import { Effect, Stream } from "effect"

const url = new URLSearchParams(globalThis.location.search).get("url") ?? "ws://127.0.0.1:9001/mqtt"

const program = Effect.gen(function*() {
  const endpoint = yield* parseUrl(url)
  const mqtt = yield* MqttClient
  yield* mqtt.publish("browser/hello", \`from \${endpoint.host}\`, { qos: 1 })
  yield* mqtt.subscribe("browser/#").pipe(
    Stream.take(1),
    Stream.runForEach((message) => Effect.sync(() => document.body.append(message.text)))
  )
}).pipe(
  Effect.provide(MqttClient.layer({ url })),
  Effect.catchTag("ConnectError", (error) => Effect.sync(() => console.error(error.message)))
)

Effect.runFork(program)
`,
  "browser-types.ts": `// The browser entry has its own typings: the Node-only FileSessionStore is not there.
// @ts-expect-error FileSessionStore is not exported under the browser condition
import { FileSessionStore } from "@aimeqtt/client"

export const store: unknown = FileSessionStore
`,
  "test/consumer.test.ts": `import { FileSessionStore, InvalidOptions, MqttClient, parseUrl } from "@aimeqtt/client"
import { Effect } from "effect"
import { expect, test } from "vitest"

test("vitest sets the development condition, and @aimeqtt/client still resolves to dist/", () => {
  expect(process.execArgv.join(" ")).toMatch(/--conditions[= ]development/)
  expect(import.meta.resolve("@aimeqtt/client")).toMatch(/\\/node_modules\\/@aimeqtt\\/client\\/dist\\/index\\.js$/)
  expect(typeof MqttClient.layer).toBe("function")
  expect(typeof FileSessionStore.layer).toBe("function")
})

test("parseUrl parses a broker URL, and fails with a tagged error", async () => {
  const endpoint = await Effect.runPromise(parseUrl("mqtt://broker.example:1884"))
  expect(endpoint).toMatchObject({ protocol: "mqtt", host: "broker.example", port: 1884 })
  const error = await Effect.runPromise(Effect.flip(parseUrl("broker.example:1883")))
  expect(error._tag).toBe("InvalidOptions")
  expect(error).toBeInstanceOf(InvalidOptions)
  expect(error.message).toContain("mqtt://broker.example:1883")
})
`
}

/** Writes {@link consumerFiles} into `app`. */
export const writeConsumerFiles = (app: string): void => {
  for (const [file, text] of Object.entries(consumerFiles)) {
    Fs.mkdirSync(Path.dirname(Path.join(app, file)), { recursive: true })
    Fs.writeFileSync(Path.join(app, file), text)
  }
}
