/** Running a command the way the consumer app's steps do: no shell, its own process group, bounded in time. */
import { execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

export interface RunResult {
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
export const explain = (r: RunResult) =>
  `${r.command}\n-> exit ${String(r.code)}${r.signal === null ? "" : ` (${r.signal})`}${
    r.timedOut ? " TIMED OUT" : ""
  } after ${Math.round(r.ms)} ms\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`

/**
 * Runs a command without a shell, in its own process group, which is killed (SIGKILL) when `timeoutMs`
 * passes (npm runs install scripts, which run npm again). Never rejects: a spawn failure is exit code null.
 */
export const run = (
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
export const npmCli = (): string => {
  const first = (process.env.PATH ?? "").split(Path.delimiter).map((dir) => Path.join(dir, "npm")).find((file) => Path.isAbsolute(file) && Fs.existsSync(file))
  const real = first === undefined ? undefined : Fs.realpathSync(first)
  if (real?.endsWith(".js") === true) return real
  const globalRoot = execFileSync("npm", ["root", "-g"], { encoding: "utf8", timeout: 30_000 }).trim()
  return Path.join(globalRoot, "npm", "bin", "npm-cli.js")
}
