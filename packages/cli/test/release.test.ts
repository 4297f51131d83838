/**
 * The release path (issue 12): every package is built and packed as `pnpm publish` would, and each tarball
 * is checked for what a user's project needs. Also run alone by `pnpm release:check`.
 * - no `workspace:` protocol left in its dependencies (only pnpm's pack and publish rewrite it);
 * - every `exports` / `imports` target resolves into `dist/` under every condition a user's tools may set
 *   (vitest sets `development`, bundlers `browser`, TypeScript `types`); `src/` only under
 *   `@aimeqtt/source`, which only this workspace sets;
 * - README, LICENSE and the built entry points are in the tarball;
 * - `engines.node` states the real minimum (>= 22.19, what `@effect/platform-node` 4.1 declares);
 * - `@effect/platform-node` is an optional peer of the client (browser apps do not need it), and the
 *   packages agree on Effect's range (an exact pin next to a caret range gives two copies of Effect).
 *
 * Then "installable by anyone": the tarballs go into a fresh app under the OS temp dir (no workspace, no
 * links) with plain npm, run by Node 22.19.0 (the minimum, installed from the `node` npm package), and the
 * app does what users do: type-checks with TypeScript 5.9 (NodeNext, bundler, and the `browser` condition),
 * runs against a real mosquitto, runs a vitest test (which sets the `development` condition), bundles the
 * browser entry with esbuild (no Node module in it, gzip size printed) and runs `npx aimeqtt --help`.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import { builtinModules } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Zlib from "node:zlib"
import { describeMosquitto, Mosquitto } from "../../client/test/brokers/index.ts"

const root = Path.resolve(import.meta.dirname, "../../..")
const PACKAGES = ["codec", "client", "cli"] as const
const MIN_NODE = ">=22.19"

interface Manifest {
  readonly name: string
  readonly engines?: Record<string, string>
  readonly exports?: unknown
  readonly imports?: unknown
  readonly bin?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
}

/** Every leaf target of a conditional export map, with the conditions that lead to it. */
const targets = (map: unknown, path: ReadonlyArray<string> = []): Array<{ readonly conditions: ReadonlyArray<string>; readonly target: string }> => {
  if (typeof map === "string") return [{ conditions: path, target: map }]
  if (typeof map !== "object" || map === null) return []
  return Object.entries(map).flatMap(([key, value]) => targets(value, key.startsWith(".") || key.startsWith("#") ? path : [...path, key]))
}

const pnpm = (args: ReadonlyArray<string>) =>
  execFileSync("npx", ["-y", "pnpm@10", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], timeout: 180_000 })

// ---------------------------------------------------------------------------------------------------------
// The consumer app: plain npm, Node 22.19.0, outside the workspace.

/** The minimum supported Node, exactly: the consumer app runs on it. */
const CONSUMER_NODE = "22.19.0"
/** A generous bound on the gzip size of the whole browser bundle, against regressions such as Node-only dependencies in it. */
const MAX_BROWSER_GZIP = 250 * 1024

interface RunResult {
  readonly command: string
  readonly code: number | null
  readonly signal: string | null
  readonly timedOut: boolean
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

const tail = (text: string, max = 6000) => (text.length > max ? `...${text.slice(-max)}` : text)

/** For assertion messages: the command, how it ended, and (the end of) its output. */
const explain = (r: RunResult) =>
  `${r.command}\n-> exit ${String(r.code)}${r.signal === null ? "" : ` (${r.signal})`}${
    r.timedOut ? " TIMED OUT" : ""
  } after ${Math.round(r.ms)} ms\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`

/**
 * Runs a command without a shell, in its own process group, which is killed (SIGKILL) when `timeoutMs`
 * passes (npm runs install scripts, which run npm again). Never rejects: a spawn failure is exit code null.
 */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly timeoutMs: number; readonly env?: NodeJS.ProcessEnv }
): Promise<RunResult> =>
  new Promise((resolve) => {
    const started = performance.now()
    const shown = [command, ...args].join(" ")
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    let settled = false
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const finish = (code: number | null, signal: string | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ command: shown, code, signal, timedOut, stdout, stderr, ms: performance.now() - started })
    }
    const timer = setTimeout(() => {
      timedOut = true
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          child.kill("SIGKILL")
        }
      }
    }, options.timeoutMs)
    child.once("error", (error) => {
      stderr += `\n${String(error)}`
      finish(null, null)
    })
    child.once("close", (code, signal) => finish(code, signal))
  })

/**
 * The npm on PATH, as a script another Node can run: `/usr/bin/npm` is a link to `.../npm/bin/npm-cli.js`;
 * otherwise (a wrapper script) the npm of `npm root -g`.
 */
const npmCli = (): string => {
  const first = (process.env.PATH ?? "").split(Path.delimiter).map((dir) => Path.join(dir, "npm")).find((file) => Path.isAbsolute(file) && Fs.existsSync(file))
  const real = first === undefined ? undefined : Fs.realpathSync(first)
  if (real?.endsWith(".js") === true) return real
  const globalRoot = execFileSync("npm", ["root", "-g"], { encoding: "utf8", timeout: 30_000 }).trim()
  return Path.join(globalRoot, "npm", "bin", "npm-cli.js")
}

/**
 * A small `semver.satisfies` for `engines.node` ranges: `||` alternatives of space-separated comparators
 * (`>=`, `>`, `<=`, `<`, `=`, `^`, `~`, bare or partial versions, `x`, `*`). `undefined` when a range is
 * outside that grammar (then the caller reports it).
 */
const satisfies = (version: string, range: string): boolean | undefined => {
  const [major = 0, minor = 0, patch = 0] = version.split(".").map(Number)
  const compare = (a: ReadonlyArray<number>) => major - (a[0] ?? 0) || minor - (a[1] ?? 0) || patch - (a[2] ?? 0)
  const comparator = (text: string): boolean | undefined => {
    if (text === "*" || text === "x" || text === "") return true
    const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(text)
    if (m === null) return undefined
    const parts = [m[2], m[3], m[4]].filter((p): p is string => p !== undefined && /^\d+$/.test(p)).map(Number)
    const c = compare(parts)
    switch (m[1]) {
      case ">=":
        return c >= 0
      case ">":
        return c > 0
      case "<=":
        return c <= 0
      case "<":
        return c < 0
      case "^":
        return parts[0] === 0 ? undefined : c >= 0 && major === parts[0]
      case "~":
        return c >= 0 && major === parts[0] && (parts.length < 2 || minor === parts[1])
      default: // `=` or bare: the given parts must match
        return parts.every((p, i) => [major, minor, patch][i] === p)
    }
  }
  const results = range.split("||").map((alternative) =>
    alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1").split(/\s+/).map(comparator)
  )
  if (results.some((all) => all.some((r) => r === undefined))) return undefined
  return results.some((all) => all.every((r) => r === true))
}

/** The installed packages a user's app gets from ours: their dependencies and installed peers, recursively. */
const installedClosure = (appDir: string, roots: ReadonlyArray<string>): Map<string, { readonly dir: string; readonly manifest: Manifest }> => {
  const found = new Map<string, { readonly dir: string; readonly manifest: Manifest }>()
  const locate = (name: string, from: string): string | undefined => {
    for (let dir = from; dir.startsWith(appDir); dir = Path.dirname(dir)) {
      const candidate = Path.join(dir, "node_modules", name)
      if (Fs.existsSync(Path.join(candidate, "package.json"))) return candidate
      if (dir === appDir) break
    }
    return undefined
  }
  const visit = (name: string, from: string) => {
    const dir = locate(name, from)
    if (dir === undefined || found.has(dir)) return
    const manifest = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as Manifest
    found.set(dir, { dir, manifest })
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies })) visit(dep, dir)
  }
  for (const root of roots) visit(root, appDir)
  return found
}

interface Metafile {
  readonly inputs: Record<string, unknown>
  readonly outputs: Record<string, {
    readonly bytes: number
    readonly imports: ReadonlyArray<{ readonly path: string; readonly external?: boolean }>
    readonly inputs: Record<string, { readonly bytesInOutput: number }>
  }>
}

interface VitestJsonReport {
  readonly success: boolean
  readonly numTotalTests: number
  readonly numPassedTests: number
}

/** `file(line,col): error TSnnnn: message` lines of tsc's (non-pretty) output. */
const tscErrors = (output: string) =>
  output.split("\n").flatMap((line) => {
    const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line)
    return m === null ? [] : [{ file: m[1] ?? "", code: m[4] ?? "", line }]
  })

/** The files tsc's `--listFiles` printed (absolute paths). */
const listedFiles = (output: string) => output.split("\n").filter((line) => line.startsWith("/"))

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
  expect(endpoint).toEqual({ protocol: "mqtt", host: "broker.example", port: 1884 })
  const error = await Effect.runPromise(Effect.flip(parseUrl("broker.example:1883")))
  expect(error._tag).toBe("InvalidOptions")
  expect(error).toBeInstanceOf(InvalidOptions)
  expect(error.message).toContain("mqtt://broker.example:1883")
})
`
}

describe("release: the packages as published", () => {
  const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-release-"))
  const unpacked = new Map<string, string>()
  afterAll(() => Fs.rmSync(out, { recursive: true, force: true }))

  it("build and pack every package with pnpm (which rewrites workspace:)", () => {
    pnpm(["-r", "build"])
    pnpm(["-r", "pack", "--pack-destination", out])
    for (const name of PACKAGES) {
      const tarball = Fs.readdirSync(out).find((f) => f.startsWith(`aimeqtt-${name}-`) && f.endsWith(".tgz"))
      assert.isDefined(tarball, `no tarball for ${name} in ${Fs.readdirSync(out).join(", ")}`)
      const dir = Path.join(out, name)
      Fs.mkdirSync(dir)
      execFileSync("tar", ["-xzf", Path.join(out, tarball as string), "-C", dir])
      unpacked.set(name, Path.join(dir, "package"))
    }
  }, 240_000)

  for (const name of PACKAGES) {
    it(`@aimeqtt/${name}: no workspace: protocol, dist/ under every user condition, README, LICENSE, engines`, () => {
      const dir = unpacked.get(name)
      assert.isDefined(dir, "packed")
      if (dir === undefined) return
      const manifest = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as Manifest
      for (const [dep, range] of Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies })) {
        assert.notMatch(range, /^workspace:/, `${dep}: ${range}`)
      }
      for (const { conditions, target } of [...targets(manifest.exports), ...targets(manifest.imports)]) {
        if (conditions.includes("@aimeqtt/source")) continue
        assert.match(target, /^\.\/dist\//, `${conditions.join(" > ") || "default"} -> ${target}`)
        assert.isTrue(Fs.existsSync(Path.join(dir, target)), `${target} is in the tarball`)
      }
      for (const bin of Object.values(manifest.bin ?? {})) assert.isTrue(Fs.existsSync(Path.join(dir, bin)), bin)
      for (const file of ["README.md", "LICENSE"]) assert.isTrue(Fs.existsSync(Path.join(dir, file)), `${file} is in the tarball`)
      assert.strictEqual(manifest.engines?.node, MIN_NODE)
    })
  }

  it("@aimeqtt/client: @effect/platform-node is an optional peer; the browser entry has its own typings", () => {
    const dir = unpacked.get("client")
    if (dir === undefined) return assert.fail("not packed")
    const manifest = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as Manifest
    assert.strictEqual(manifest.peerDependenciesMeta?.["@effect/platform-node"]?.optional, true)
    const browser = targets(manifest.exports).filter((t) => t.conditions[0] === "browser")
    assert.deepStrictEqual(browser.map((t) => t.target).sort(), ["./dist/index.browser.d.ts", "./dist/index.browser.js"])
  })

  it("the packages agree on Effect's range", () => {
    const ranges = new Set<string>()
    for (const name of PACKAGES) {
      const manifest = JSON.parse(Fs.readFileSync(Path.join(root, "packages", name, "package.json"), "utf8")) as Manifest
      for (const dep of ["effect", "@effect/platform-node"]) {
        const range = manifest.dependencies?.[dep] ?? manifest.peerDependencies?.[dep]
        if (range !== undefined) ranges.add(`${dep}@${range}`)
      }
    }
    assert.deepStrictEqual([...ranges].sort(), ["@effect/platform-node@^4.1.0", "effect@^4.1.0"])
  })

  describe(`consumer: an npm app outside the workspace, on Node ${CONSUMER_NODE}`, () => {
    const app = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-consumer-"))
    const node = Path.join(app, "node_modules", ".bin", "node")
    // The app's tools run on the app's Node (`#!/usr/bin/env node` finds node_modules/.bin/node first); the
    // outer vitest's variables and NODE_OPTIONS stay out of the inner tools.
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && !["NODE_OPTIONS", "NODE_ENV", "TEST"].includes(key))
    )
    env.PATH = `${Path.join(app, "node_modules", ".bin")}${Path.delimiter}${process.env.PATH ?? ""}`
    const timings: Array<string> = []
    let installed = false
    const step = (name: string, ms: number) => {
      timings.push(`${name}: ${(ms / 1000).toFixed(1)} s`)
    }
    afterAll(() => {
      if (timings.length > 0) console.log(`consumer app steps:\n  ${timings.join("\n  ")}`)
      Fs.rmSync(app, { recursive: true, force: true })
    })
    const requireInstalled = () => assert.isTrue(installed, "the consumer app was not installed (see the npm install test)")

    it(`npm installs the tarballs with effect, @effect/platform-node and the tools, on Node ${CONSUMER_NODE} (no EBADENGINE)`, async () => {
      const tarballs = PACKAGES.map((name) => Fs.readdirSync(out).find((f) => f.startsWith(`aimeqtt-${name}-`) && f.endsWith(".tgz")))
      for (const tarball of tarballs) assert.isDefined(tarball, `packed tarballs: ${Fs.readdirSync(out).join(", ")}`)
      for (const [file, text] of Object.entries(consumerFiles)) {
        Fs.mkdirSync(Path.dirname(Path.join(app, file)), { recursive: true })
        Fs.writeFileSync(Path.join(app, file), text)
      }
      // 1. The `node` package (a binary from the registry, set up by its install script), with the npm on PATH.
      const first = await run("npm", ["install", "--no-audit", "--no-fund", "--save-exact", `node@${CONSUMER_NODE}`], {
        cwd: app,
        env,
        timeoutMs: 120_000
      })
      step(`npm install node@${CONSUMER_NODE}`, first.ms)
      assert.strictEqual(first.code, 0, explain(first))
      const version = await run(node, ["--version"], { cwd: app, env, timeoutMs: 10_000 })
      assert.strictEqual(version.stdout.trim(), `v${CONSUMER_NODE}`, explain(version))
      // 2. Everything else, as a user on Node 22.19.0 installs it: the same npm, run by that Node, so that npm
      //    checks every package's engines against 22.19.0 (and picks versions that support it).
      const second = await run(
        node,
        [
          npmCli(),
          "install",
          "--no-audit",
          "--no-fund",
          ...tarballs.map((tarball) => Path.join(out, tarball ?? "")),
          "effect@^4.1.0",
          "@effect/platform-node@^4.1.0",
          "@types/node@^22",
          "typescript@~5.9.0",
          "vitest",
          "esbuild"
        ],
        { cwd: app, env, timeoutMs: 180_000 }
      )
      step("npm install (tarballs, effect, platform-node, typescript, vitest, esbuild)", second.ms)
      assert.strictEqual(second.code, 0, explain(second))
      assert.notInclude(second.stdout + second.stderr, "EBADENGINE", explain(second))

      // Real copies from the tarballs, not links into the workspace.
      for (const name of PACKAGES) {
        const dir = Path.join(app, "node_modules", "@aimeqtt", name)
        assert.isFalse(Fs.lstatSync(dir).isSymbolicLink(), `${dir} is a link`)
        assert.isTrue(Fs.realpathSync(dir).startsWith(Fs.realpathSync(app)), `${dir} is inside the app`)
      }
      // The engines of what our packages bring along (dependencies and installed peers) accept 22.19.0.
      assert.isFalse(satisfies("22.18.1", MIN_NODE), "the range check itself")
      const closure = installedClosure(app, PACKAGES.map((name) => `@aimeqtt/${name}`))
      const names = [...closure.values()].map((p) => p.manifest.name)
      for (const expected of ["@aimeqtt/client", "effect", "@effect/platform-node"]) assert.include(names, expected)
      const unmet = [...closure.values()].flatMap(({ manifest }) => {
        const range = manifest.engines?.node
        const ok = range === undefined ? true : satisfies(CONSUMER_NODE, range)
        return ok === true ? [] : [`${manifest.name}: engines.node ${String(range)} (${ok === undefined ? "unparsed" : "unmet"})`]
      })
      assert.deepStrictEqual(unmet, [], `installed: ${names.join(", ")}`)
      installed = true
    }, 330_000)

    it("(a) type-checks a strict app with TypeScript 5.9: NodeNext, bundler, and the browser condition", async () => {
      requireInstalled()
      const tsc = Path.join(app, "node_modules", "typescript", "bin", "tsc")
      const started = performance.now()
      const [nodenext, bundler, browser] = await Promise.all(
        ["nodenext", "bundler", "browser"].map((config) =>
          run(node, [tsc, "-p", `tsconfig.${config}.json`, "--pretty", "false", "--listFiles"], { cwd: app, env, timeoutMs: 150_000 })
        )
      )
      step("tsc x3 (concurrently)", performance.now() - started)
      if (nodenext === undefined || bundler === undefined || browser === undefined) return assert.fail("three tsc runs")
      const version = await run(node, [tsc, "--version"], { cwd: app, env, timeoutMs: 10_000 })
      assert.match(version.stdout, /^Version 5\.9\./, explain(version))

      for (const result of [nodenext, bundler, browser]) {
        assert.isFalse(result.timedOut, explain(result))
        // Our packages' typings come from dist/, never from the src/ the tarballs also carry.
        const ours = listedFiles(result.stdout).filter((file) => file.includes("/node_modules/@aimeqtt/"))
        assert.isNotEmpty(ours, explain(result))
        for (const file of ours) assert.match(file, /\/node_modules\/@aimeqtt\/(codec|client|cli)\/dist\/[^/]+(\/[^/]+)*\.d\.ts$/)
      }
      // NodeNext, no DOM lib: only effect's own DOM mentions fail the lib check; anything else is an error.
      const foreign = tscErrors(nodenext.stdout).filter((e) => !(e.file.startsWith("node_modules/effect/") && ["TS2304", "TS2694"].includes(e.code)))
      assert.deepStrictEqual(foreign.map((e) => e.line), [], explain(nodenext))
      assert.include(listedFiles(nodenext.stdout).join("\n"), "/@aimeqtt/client/dist/index.d.ts")
      const tolerated = tscErrors(nodenext.stdout).length
      if (tolerated > 0) console.log(`tsc NodeNext (lib ES2022, skipLibCheck false): ${tolerated} errors in effect's own .d.ts (DOM types), none elsewhere`)
      // Bundler resolution, Node entry: exactly the unused `@ts-expect-error` of browser-types.ts.
      assert.deepStrictEqual(tscErrors(bundler.stdout).map((e) => `${e.file} ${e.code}`), ["browser-types.ts TS2578"], explain(bundler))
      // The browser condition: the browser entry's typings, no FileSessionStore, no Node types.
      assert.strictEqual(browser.code, 0, explain(browser))
      const browserFiles = listedFiles(browser.stdout)
      assert.isTrue(browserFiles.some((f) => f.endsWith("/@aimeqtt/client/dist/index.browser.d.ts")), explain(browser))
      for (const unwanted of ["/@aimeqtt/client/dist/index.d.ts", "/@aimeqtt/client/dist/FileSessionStore.d.ts", "/@types/node/"]) {
        assert.isFalse(browserFiles.some((f) => f.includes(unwanted)), `${unwanted} in the browser program`)
      }
    }, 180_000)

    describeMosquitto("(b) the app against mosquitto", () => {
      it(`runs on Node ${CONSUMER_NODE} and makes a QoS 1 round trip`, async () => {
        requireInstalled()
        const { result, logs } = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const broker = yield* Mosquitto.start()
          const result = yield* Effect.promise(() => run(node, ["app.ts", broker.url], { cwd: app, env, timeoutMs: 45_000 }))
          return { result, logs: broker.logText() }
        })))
        step("app round trip against mosquitto", result.ms)
        assert.strictEqual(result.code, 0, explain(result))
        const lines = result.stdout.split("\n")
        assert.include(lines, `node v${CONSUMER_NODE}`, explain(result))
        assert.include(lines, "rejected InvalidOptions", explain(result))
        assert.include(lines, "subscribed granted=1", explain(result))
        assert.include(lines, "published qos=1", explain(result))
        assert.isTrue(lines.some((l) => /^received consumer\/\d+ hello from an npm consumer qos=1$/.test(l)), explain(result))
        // and on the wire, as the broker saw it: a QoS 1 PUBLISH in, its PUBACK out, the message sent back
        assert.match(logs, /Received PUBLISH from \S+ \(d0, q1, r0, m\d+, 'consumer\/\d+'/, logs)
        assert.match(logs, /Sending PUBACK to \S+/, logs)
        assert.match(logs, /Sending PUBLISH to \S+ \(d0, q1, r0, m\d+, 'consumer\/\d+'/, logs)
      }, 60_000)
    })

    it("(c) a vitest test in the app imports @aimeqtt/client (development condition) and passes", async () => {
      requireInstalled()
      const report = Path.join(app, "vitest-report.json")
      const result = await run(
        node,
        [Path.join(app, "node_modules", "vitest", "vitest.mjs"), "run", "--reporter=json", `--outputFile=${report}`],
        { cwd: app, env, timeoutMs: 90_000 }
      )
      step("vitest in the app", result.ms)
      assert.strictEqual(result.code, 0, explain(result))
      const json = JSON.parse(Fs.readFileSync(report, "utf8")) as VitestJsonReport
      assert.isTrue(json.success, explain(result))
      assert.strictEqual(json.numTotalTests, 2, explain(result))
      assert.strictEqual(json.numPassedTests, 2, explain(result))
    }, 120_000)

    it("(d) esbuild bundles the browser entry without any Node module; gzip size below the bound", async () => {
      requireInstalled()
      const outfile = "bundle/browser.js"
      const result = await run(
        Path.join(app, "node_modules", ".bin", "esbuild"),
        ["browser.ts", "--bundle", "--minify", "--format=esm", "--platform=browser", "--metafile=bundle/meta.json", `--outfile=${outfile}`, "--log-level=warning"],
        { cwd: app, env, timeoutMs: 60_000 }
      )
      step("esbuild", result.ms)
      assert.strictEqual(result.code, 0, explain(result))
      const meta = JSON.parse(Fs.readFileSync(Path.join(app, "bundle", "meta.json"), "utf8")) as Metafile
      const inputs = Object.keys(meta.inputs)
      const nodeish = inputs.filter((input) => {
        const bare = input.replace(/^\(disabled\):/, "")
        return bare.startsWith("node:") || builtinModules.includes(bare) || builtinModules.includes(bare.split("/")[0] ?? "") ||
          /node_modules\/(@effect\/platform-node|@effect\/platform-node-shared|ws|undici)\//.test(bare) || bare.includes("Transport.node")
      })
      assert.deepStrictEqual(nodeish, [], "Node modules in the browser bundle")
      assert.isFalse(inputs.some((input) => /\/@aimeqtt\/[^/]+\/src\//.test(input)), "sources (src/) in the bundle")
      const errorsModules = inputs.filter((input) => /@aimeqtt\/client\/(src|dist)\/errors\.[jt]s$/.test(input))
      assert.deepStrictEqual(errorsModules, ["node_modules/@aimeqtt/client/dist/errors.js"], "one copy of the errors module")
      assert.include(inputs, "node_modules/@aimeqtt/client/dist/index.browser.js")
      assert.include(inputs, "node_modules/@aimeqtt/client/dist/Transport.browser.js")
      const output = meta.outputs[outfile]
      if (output === undefined) return assert.fail(`no ${outfile} in ${Object.keys(meta.outputs).join(", ")}`)
      assert.deepStrictEqual(output.imports, [], "the bundle imports nothing at run time")

      const bytes = Fs.readFileSync(Path.join(app, outfile))
      const gzip = Zlib.gzipSync(bytes, { level: 9 }).length
      const share = { effect: 0, aimeqtt: 0, other: 0 }
      for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
        if (input.startsWith("node_modules/effect/")) share.effect += bytesInOutput
        else if (input.startsWith("node_modules/@aimeqtt/")) share.aimeqtt += bytesInOutput
        else share.other += bytesInOutput
      }
      const total = share.effect + share.aimeqtt + share.other
      const percent = (n: number) => `${((100 * n) / total).toFixed(1)}%`
      const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`
      console.log(
        `browser bundle (esbuild, minified, esm): ${kb(bytes.length)}, gzip ${kb(gzip)}; of the minified bytes ` +
          `effect ${kb(share.effect)} (${percent(share.effect)}), @aimeqtt/* ${kb(share.aimeqtt)} (${percent(share.aimeqtt)}), ` +
          `app ${kb(share.other)} (${percent(share.other)})`
      )
      assert.isAbove(share.aimeqtt, 0)
      assert.isAbove(share.effect, 0)
      assert.isBelow(gzip, MAX_BROWSER_GZIP, `gzip size of the browser bundle (${kb(gzip)})`)
    }, 60_000)

    it("(e) npx aimeqtt --help, from the installed CLI tarball", async () => {
      requireInstalled()
      const result = await run("npx", ["--no-install", "aimeqtt", "--help"], { cwd: app, env, timeoutMs: 60_000 })
      step("npx aimeqtt --help", result.ms)
      assert.strictEqual(result.code, 0, explain(result))
      assert.match(result.stdout, /^\s+pub\s/m, explain(result))
      assert.match(result.stdout, /^\s+sub\s/m, explain(result))
    }, 90_000)
  })
})
