/**
 * The browser build: `examples/browser` bundled with esbuild for the `browser` condition (global
 * `WebSocket`, no Node module), served from a local http server and opened in a real headless
 * Chromium against mosquitto's WebSocket listener; messages published from Node must show up in the page.
 *
 * Needs Debian's `chromium` (`apt-get install -y chromium`) and mosquitto. Without chromium the test is
 * skipped with a loud warning, except under `CI=true`, where it fails (same policy as `describeMosquitto`).
 */
import { MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { chromium } from "playwright-core"
import * as BrowserEntry from "../src/index.browser.ts"
import * as NodeEntry from "../src/index.ts"
import { BrokerError, describeMosquitto, freePort, isCI, Mosquitto, mosquittoPub } from "./brokers/index.ts"

const CHROMIUM = "/usr/bin/chromium"
const chromiumAvailable = Fs.existsSync(CHROMIUM)
const repoRoot = Path.resolve(import.meta.dirname, "../../..")

describe("browser entry", () => {
  it("exports what the Node entry exports, minus the Node-only modules", () => {
    const nodeOnly = new Set(["FileSessionStore", "SqliteSessionStore"])
    assert.deepStrictEqual(
      Object.keys(BrowserEntry).sort(),
      Object.keys(NodeEntry).filter((name) => !nodeOnly.has(name)).sort()
    )
  })
})

/** Runs `examples/browser/build.ts` into a temp dir (removed on scope close). */
const buildPage = Effect.acquireRelease(
  Effect.callback<string, BrokerError>((resume) => {
    const outdir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-browser-"))
    ChildProcess.execFile(
      process.execPath,
      ["--conditions=@aimeqtt/source", Path.join(repoRoot, "examples/browser/build.ts"), outdir],
      { cwd: Path.join(repoRoot, "examples"), timeout: 60_000 },
      (error, stdout, stderr) =>
        resume(
          error === null
            ? Effect.succeed(outdir)
            : Effect.fail(new BrokerError({ message: `build:browser failed: ${stdout}\n${stderr}`, cause: error }))
        )
    )
  }),
  (outdir) => Effect.sync(() => Fs.rmSync(outdir, { recursive: true, force: true }))
)

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json"
}

/** Serves the files of `dir` on 127.0.0.1 (a free port); closed on scope close. */
const serve = (dir: string) =>
  Effect.acquireRelease(
    Effect.callback<{ server: Http.Server; port: number }, BrokerError>((resume) => {
      const server = Http.createServer((request, response) => {
        const name = Path.basename(new URL(request.url ?? "/", "http://x").pathname) || "index.html"
        const file = Path.join(dir, name)
        if (!Fs.existsSync(file)) {
          response.writeHead(404).end()
          return
        }
        response.writeHead(200, { "content-type": contentTypes[Path.extname(file)] ?? "application/octet-stream" })
        response.end(Fs.readFileSync(file))
      })
      server.once("error", (cause) => resume(Effect.fail(new BrokerError({ message: "http server failed", cause }))))
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed({ server, port: typeof address === "object" && address !== null ? address.port : 0 }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** Headless Chromium with a fresh profile dir; closed (by its own API, which ends the process) on scope close. */
const launchChromium = Effect.acquireRelease(
  Effect.tryPromise({
    try: async () => {
      const userDataDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-chromium-"))
      const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync"
        ]
      })
      return { context, userDataDir }
    },
    catch: (cause) => new BrokerError({ message: `cannot launch ${CHROMIUM}`, cause })
  }),
  ({ context, userDataDir }) =>
    Effect.promise(() => context.close().catch(() => undefined)).pipe(
      Effect.andThen(Effect.sync(() => Fs.rmSync(userDataDir, { recursive: true, force: true })))
    )
)

const browserTests = () => {
  it.live("the example page subscribes over ws:// and lists live messages", () =>
    Effect.gen(function*() {
      const wsPort = yield* freePort
      const broker = yield* Mosquitto.start({ extraConfig: `listener ${wsPort} lo\nprotocol websockets` })
      const outdir = yield* buildPage
      const http = yield* serve(outdir)
      const { context } = yield* launchChromium
      const page = yield* Effect.promise(() => context.newPage())
      const pageErrors: Array<string> = []
      page.on("console", (message) => {
        if (message.type() === "error") pageErrors.push(message.text())
      })
      page.on("pageerror", (error) => pageErrors.push(error.message))

      const query = new URLSearchParams({ url: `ws://127.0.0.1:${wsPort}/mqtt`, topic: "browser/#" })
      yield* Effect.promise(() => page.goto(`http://127.0.0.1:${http.port}/index.html?${query.toString()}`))
      const subscribed = yield* Effect.promise(() =>
        page.waitForSelector("#status[data-state='subscribed']", { timeout: 15_000 }).then(() => true, () => false)
      )
      const statusText = yield* Effect.promise(() => page.textContent("#status"))
      assert.isTrue(subscribed, `status: ${String(statusText)}; page errors: ${pageErrors.join("\n")}\n${broker.logText()}`)

      // publish from Node: our client over TCP, and mosquitto_pub
      const publisher = yield* Layer.build(MqttClient.layer({ url: broker.url })).pipe(
        Effect.map((ctx) => Context.get(ctx, MqttClient))
      )
      yield* publisher.publish("browser/a", "first", { qos: 1 })
      yield* publisher.publish("browser/b", "zweite ✓", { qos: 1 })
      yield* publisher.publish("elsewhere", "not subscribed", { qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "browser/cli", message: "from mosquitto_pub", qos: 1 })

      const shown = yield* Effect.promise(() =>
        page.waitForFunction("document.querySelectorAll('#messages li').length >= 3", undefined, { timeout: 10_000 })
          .then(() => true, () => false)
      )
      const items = yield* Effect.promise(() => page.$$eval("#messages li", (lis) => lis.map((li) => li.textContent ?? "")))
      assert.isTrue(shown, `items: ${items.join(" | ")}; page errors: ${pageErrors.join("\n")}`)
      assert.deepStrictEqual(items, ["browser/a: first", "browser/b: zweite ✓", "browser/cli: from mosquitto_pub"])
      assert.deepStrictEqual(pageErrors, [])
    }), 60_000)
}

if (chromiumAvailable) {
  describeMosquitto("browser (headless Chromium)", browserTests)
} else if (isCI) {
  describe("browser (headless Chromium)", () => {
    it("chromium is required under CI", () => {
      assert.fail(`${CHROMIUM} is missing (install: apt-get install -y chromium)`)
    })
  })
} else {
  console.warn(
    `\n!!!!!!!! SKIPPING "browser (headless Chromium)": ${CHROMIUM} not installed. ` +
      `Install with: apt-get install -y chromium !!!!!!!!\n`
  )
  describe.skip("browser (headless Chromium)", browserTests)
}
