/**
 * Real proxy servers for the client's proxy tests, both from Debian packages:
 * - {@link HttpProxy}: tinyproxy (HTTP CONNECT, optional Basic auth, optional CONNECT port allow-list);
 * - {@link SocksProxy}: microsocks (SOCKS5, optional user name / password auth, RFC 1929).
 *
 * Each runs in the foreground as an unprivileged process (user `nobody` through `setpriv` when the tests run
 * as root) on a free 127.0.0.1 port, with a config file (tinyproxy) or arguments (microsocks) written by the
 * test, and is stopped by PID when its scope closes.
 */
import { Effect, type Scope } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { guardsFor } from "./Guards.ts"
import {
  BrokerError,
  findExecutable,
  freePort,
  HOST,
  type RunningProcess,
  scopedTempDir,
  spawnProcess,
  stopProcess,
  tcpProbe,
  waitOnProcess
} from "./internal.ts"

/** Absolute path of `tinyproxy` (HTTP CONNECT proxy), or `undefined` when it is not installed. */
export const tinyproxyBinary: string | undefined = findExecutable("tinyproxy")
/** Absolute path of `microsocks` (SOCKS5 proxy), or `undefined` when it is not installed. */
export const microsocksBinary: string | undefined = findExecutable("microsocks")
/** util-linux `setpriv`, to drop from root to `nobody` before exec (same PID). */
const setprivBinary: string | undefined = findExecutable("setpriv")

/** `true` when both proxies are installed. */
export const proxiesAvailable: boolean = tinyproxyBinary !== undefined && microsocksBinary !== undefined

const MISSING = "tinyproxy and microsocks are required under CI (install: apt-get install -y tinyproxy microsocks)"

const proxyGuards = guardsFor({
  available: proxiesAvailable,
  missing: MISSING,
  testUnderCI: "tinyproxy and microsocks are required under CI",
  skipReason: "tinyproxy / microsocks not installed. Install with: apt-get install -y tinyproxy microsocks"
})

/**
 * `describe` for tests that need the real proxies. When one is missing: under CI (`CI=true`) the block holds a
 * single failing test; otherwise the block is skipped with a loud console warning.
 */
export const describeProxies: (name: string, fn: () => void) => void = proxyGuards.describe

/** Options of {@link HttpProxy.start} and {@link SocksProxy.start}. */
export interface ProxyServerOptions {
  /** Require this user (HTTP: `BasicAuth`; SOCKS5: user name / password auth). Default: no authentication. */
  readonly username?: string
  /** The password of `username`. */
  readonly password?: string
  /** tinyproxy only: allow CONNECT to these ports only (`ConnectPort`); others get 403. Default: any port. */
  readonly connectPorts?: ReadonlyArray<number>
}

/** A running proxy server, owned by a scope. */
export interface ProxyServer {
  readonly kind: "http" | "socks5"
  readonly host: string
  readonly port: number
  readonly pid: number
  /** `http://127.0.0.1:PORT` or `socks5://127.0.0.1:PORT`, without credentials. */
  readonly url: string
  /** The URL with `user:password@` (percent-encoded). */
  readonly urlWith: (username: string, password: string) => string
  /** Every output line (stdout and stderr) so far. */
  readonly logText: () => string
  /** Waits (up to `timeoutMs`, default 5 s) for an output line matching `pattern`; fails with the log otherwise. */
  readonly waitForLog: (pattern: RegExp, timeoutMs?: number) => Effect.Effect<string, BrokerError>
}

/** The temp dir of one proxy, readable by the proxy running as `nobody`. */
const makeDir = scopedTempDir("aimeqtt-proxy-", "proxy", 0o755)

/** Spawns `binary args` as `nobody` when we are root (setpriv execs: the PID is the proxy's). */
const spawnUnprivileged = (binary: string, args: ReadonlyArray<string>) =>
  process.getuid?.() === 0 && setprivBinary !== undefined
    ? spawnProcess(setprivBinary, ["--reuid=65534", "--regid=65534", "--clear-groups", "--", binary, ...args])
    : spawnProcess(binary, args)

const lines = (proc: RunningProcess) => [...proc.stdoutLines, ...proc.stderrLines]

/**
 * Starts the process on a free port (retried on another port if it cannot bind), waits until the port accepts
 * TCP connections, and stops it by PID (SIGTERM, then SIGKILL) when the scope closes.
 */
const launch = (
  what: string,
  spawn: (port: number) => Effect.Effect<RunningProcess, BrokerError>
): Effect.Effect<{ readonly proc: RunningProcess; readonly port: number }, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    let failure = ""
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = yield* freePort
      const proc = yield* Effect.acquireRelease(spawn(port), (p) => stopProcess(p, 1000))
      const deadline = Date.now() + 5000
      let ready = false
      while (!ready && !proc.exited && Date.now() < deadline) {
        ready = yield* tcpProbe(port, 250)
        if (!ready) yield* Effect.sleep("25 millis")
      }
      if (ready && !proc.exited) return { proc, port }
      yield* stopProcess(proc, 500)
      failure = `${what} did not accept connections on port ${port} (exit code ${String(proc.exitCode)}):\n${lines(proc).join("\n")}`
    }
    return yield* new BrokerError({ message: failure })
  })

const handle = (kind: ProxyServer["kind"], proc: RunningProcess, port: number): ProxyServer => {
  const url = `${kind}://${HOST}:${port}`
  return {
    kind,
    host: HOST,
    port,
    pid: proc.pid,
    url,
    urlWith: (username, password) =>
      `${kind}://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${HOST}:${port}`,
    logText: () => lines(proc).join("\n"),
    waitForLog: (pattern, timeoutMs = 5000) =>
      Effect.flatMap(
        waitOnProcess(proc, () => lines(proc).find((l) => pattern.test(l)), timeoutMs),
        (line) =>
          line !== undefined
            ? Effect.succeed(line)
            : Effect.fail(new BrokerError({ message: `no ${kind} proxy log line matches ${String(pattern)}:\n${lines(proc).join("\n")}` }))
      )
  }
}

/** Starts tinyproxy, a real HTTP proxy (CONNECT tunnels). */
export const HttpProxy = {
  /**
   * Writes a tinyproxy config (`Listen 127.0.0.1`, `Allow 127.0.0.1`, `BasicAuth` when `username` is given,
   * `ConnectPort` per `connectPorts`, `LogLevel Info` to stderr) and runs `tinyproxy -d -c FILE`.
   * Its log shows each tunnel: `Established connection to host "127.0.0.1" using file descriptor N.`
   */
  start: (options: ProxyServerOptions = {}): Effect.Effect<ProxyServer, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      if (tinyproxyBinary === undefined) return yield* new BrokerError({ message: MISSING })
      const binary = tinyproxyBinary
      const dir = yield* makeDir
      const configFile = Path.join(dir, "tinyproxy.conf")
      const { port, proc } = yield* launch("tinyproxy", (port) => {
        const config = [
          `Port ${port}`,
          `Listen ${HOST}`,
          "Timeout 60",
          "MaxClients 100",
          "LogLevel Info",
          `Allow ${HOST}`,
          "DisableViaHeader Yes",
          ...(options.username !== undefined ? [`BasicAuth ${options.username} ${options.password ?? ""}`] : []),
          ...(options.connectPorts ?? []).map((p) => `ConnectPort ${p}`)
        ]
        Fs.writeFileSync(configFile, config.join("\n") + "\n", { mode: 0o644 })
        return spawnUnprivileged(binary, ["-d", "-c", configFile])
      })
      return handle("http", proc, port)
    })
}

/** Starts microsocks, a real SOCKS5 proxy. */
export const SocksProxy = {
  /**
   * Runs `microsocks -i 127.0.0.1 -p PORT [-u USER -P PASSWORD]`. Its log shows each tunnel:
   * `client[N] 127.0.0.1: connected to 127.0.0.1:PORT`.
   */
  start: (options: ProxyServerOptions = {}): Effect.Effect<ProxyServer, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      if (microsocksBinary === undefined) return yield* new BrokerError({ message: MISSING })
      const binary = microsocksBinary
      const { port, proc } = yield* launch("microsocks", (port) =>
        spawnUnprivileged(binary, [
          "-i",
          HOST,
          "-p",
          String(port),
          ...(options.username !== undefined ? ["-u", options.username, "-P", options.password ?? ""] : [])
        ]))
      return handle("socks5", proc, port)
    })
}
