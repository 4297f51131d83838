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
 *
 * Helpers in `release/`: `Packages` (our manifests, pnpm build and pack), `ConsumerApp` (the app's files and
 * environment, readers of its tools' output), `Commands` (bounded commands in their own process group), `Engines`
 * (`engines.node` of what gets installed).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import { builtinModules } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Zlib from "node:zlib"
import { describeMosquitto, Mosquitto } from "../../client/test/brokers/index.ts"
import { explain, npmCli, run } from "./release/Commands.ts"
import {
  CONSUMER_NODE,
  consumerEnv,
  listedFiles,
  MAX_BROWSER_GZIP,
  type Metafile,
  tscErrors,
  type VitestJsonReport,
  writeConsumerFiles
} from "./release/ConsumerApp.ts"
import { installedClosure, satisfies } from "./release/Engines.ts"
import { MIN_NODE, PACKAGES, pnpm, readManifest, root, tarballOf, targets } from "./release/Packages.ts"

describe("release: the packages as published", () => {
  const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-release-"))
  const unpacked = new Map<string, string>()
  afterAll(() => Fs.rmSync(out, { recursive: true, force: true }))

  it("build and pack every package with pnpm (which rewrites workspace:)", () => {
    pnpm(["-r", "build"])
    pnpm(["-r", "pack", "--pack-destination", out])
    for (const name of PACKAGES) {
      const tarball = tarballOf(out, name)
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
      const manifest = readManifest(dir)
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
    const manifest = readManifest(dir)
    assert.strictEqual(manifest.peerDependenciesMeta?.["@effect/platform-node"]?.optional, true)
    const browser = targets(manifest.exports).filter((t) => t.conditions[0] === "browser")
    assert.deepStrictEqual(browser.map((t) => t.target).sort(), ["./dist/index.browser.d.ts", "./dist/index.browser.js"])
  })

  it("the packages agree on Effect's range", () => {
    const ranges = new Set<string>()
    for (const name of PACKAGES) {
      const manifest = readManifest(Path.join(root, "packages", name))
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
    const env = consumerEnv(app)
    const timings: Array<string> = []
    let installed = false
    const step = (name: string, ms: number) => {
      timings.push(`${name}: ${(ms / 1000).toFixed(1)} s`)
    }
    afterAll(() => {
      if (timings.length > 0) console.log(`consumer app steps:\n  ${timings.join("\n  ")}`)
      if (process.env.KEEP_APP === undefined) Fs.rmSync(app, { recursive: true, force: true })
    })
    const requireInstalled = () => assert.isTrue(installed, "the consumer app was not installed (see the npm install test)")

    it(`npm installs the tarballs with effect, @effect/platform-node and the tools, on Node ${CONSUMER_NODE} (no EBADENGINE)`, async () => {
      const tarballs = PACKAGES.map((name) => tarballOf(out, name))
      for (const tarball of tarballs) assert.isDefined(tarball, `packed tarballs: ${Fs.readdirSync(out).join(", ")}`)
      writeConsumerFiles(app)
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
