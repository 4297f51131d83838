/**
 * What the headless-browser tests share: bundling an example page (`examples/browser/build.ts`), serving
 * it over http on 127.0.0.1, launching Debian's Chromium through playwright-core, opening the page and
 * waiting for its `#status`, and the guard that skips loudly without Chromium (or mosquitto) locally and
 * fails under `CI=true`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { BrokerError, describeMosquitto, isCI } from "../brokers/index.ts"

/** Debian's Chromium (`apt-get install -y chromium`; .ci/run installs it). */
export const CHROMIUM = "/usr/bin/chromium"
export const chromiumAvailable: boolean = Fs.existsSync(CHROMIUM)
export const repoRoot: string = Path.resolve(import.meta.dirname, "../../../..")

/**
 * `describe` for tests that need Chromium and mosquitto: runs when both are installed; without Chromium,
 * fails under CI (`CI=true`) and is skipped with a loud warning otherwise (mosquitto: `describeMosquitto`).
 */
export const describeChromium = (name: string, fn: () => void): void => {
  if (chromiumAvailable) {
    describeMosquitto(name, fn)
  } else if (isCI) {
    describe(name, () => {
      it("chromium is required under CI", () => {
        assert.fail(`${CHROMIUM} is missing (install: apt-get install -y chromium)`)
      })
    })
  } else {
    console.warn(
      `\n!!!!!!!! SKIPPING "${name}": ${CHROMIUM} not installed. Install with: apt-get install -y chromium !!!!!!!!\n`
    )
    describe.skip(name, fn)
  }
}

/**
 * Bundles the example page in `examples/<page>` (its `main.ts` and `index.html`) with
 * `examples/browser/build.ts` into a temp dir, removed on scope close.
 */
export const buildPage = (page: string) =>
  Effect.acquireRelease(
    Effect.callback<string, BrokerError>((resume) => {
      const outdir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-browser-"))
      ChildProcess.execFile(
        process.execPath,
        [
          "--conditions=@aimeqtt/source",
          Path.join(repoRoot, "examples/browser/build.ts"),
          outdir,
          Path.join(repoRoot, "examples", page)
        ],
        { cwd: Path.join(repoRoot, "examples"), timeout: 60_000 },
        (error, stdout, stderr) =>
          resume(
            error === null
              ? Effect.succeed(outdir)
              : Effect.fail(new BrokerError({ message: `build of examples/${page} failed: ${stdout}\n${stderr}`, cause: error }))
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
export const serve = (dir: string) =>
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

/**
 * Headless Chromium with a fresh profile dir (so IndexedDB starts empty and lives on disk); closed (by its
 * own API, which ends the process) and the profile removed on scope close.
 */
export const launchChromium: Effect.Effect<{ readonly context: BrowserContext; readonly userDataDir: string }, BrokerError, Scope.Scope> =
  Effect.acquireRelease(
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

/**
 * The example page `examples/<example>` built, served and opened in a fresh headless Chromium at
 * `index.html?<query>`. `errors` collects, live, what the page logs with `console.error` and its uncaught
 * exceptions. Everything is closed and removed on scope close.
 */
export const openExample = (example: string, query: Readonly<Record<string, string>>) =>
  Effect.gen(function*() {
    const outdir = yield* buildPage(example)
    const http = yield* serve(outdir)
    const { context } = yield* launchChromium
    const page = yield* Effect.promise(() => context.newPage())
    const errors: Array<string> = []
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text())
    })
    page.on("pageerror", (error) => errors.push(error.message))
    const search = new URLSearchParams({ ...query }).toString()
    yield* Effect.promise(() => page.goto(`http://127.0.0.1:${http.port}/index.html?${search}`))
    return { page, errors }
  })

/**
 * Waits (15 seconds at most) until the page's `#status` element carries `data-state="<state>"` (the example
 * pages' convention), then asserts it did: the failure message has the status text, the page's `errors`
 * and `detail()` after them.
 */
export const awaitPageStatus = (page: Page, state: string, errors: ReadonlyArray<string>, detail: () => string = () => "") =>
  Effect.gen(function*() {
    const reached = yield* Effect.promise(() =>
      page.waitForSelector(`#status[data-state='${state}']`, { timeout: 15_000 }).then(() => true, () => false)
    )
    const statusText = yield* Effect.promise(() => page.textContent("#status"))
    assert.isTrue(reached, `status: ${String(statusText)}; page errors: ${errors.join("\n")}${detail()}`)
  })
