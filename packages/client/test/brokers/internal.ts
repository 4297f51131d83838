/**
 * Shared plumbing of the broker test helpers: the error type, free ports, TCP probes, executables,
 * child processes stopped by PID and a small "wait until something shows up" list.
 *
 * @internal
 */
import { Data, Effect, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

/** Loopback address used by every helper (tests never leave 127.0.0.1). */
export const HOST = "127.0.0.1"

/**
 * Failure of a test helper: a broker that did not start, a CLI peer that exited with an error,
 * a wait that timed out. `exitCode` is set when a child process exited with a non-zero code.
 */
export class BrokerError extends Data.TaggedError("BrokerError")<{
  readonly message: string
  readonly exitCode?: number
  readonly cause?: unknown
}> {}

/** Picks a free ephemeral TCP port on 127.0.0.1: binds a server on port 0, reads the port, closes it. */
export const freePort: Effect.Effect<number, BrokerError> = Effect.callback<number, BrokerError>((resume) => {
  const server = Net.createServer()
  server.once("error", (cause) => resume(Effect.fail(new BrokerError({ message: "cannot pick a free port", cause }))))
  server.listen(0, HOST, () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() =>
      resume(port > 0 ? Effect.succeed(port) : Effect.fail(new BrokerError({ message: "no port from server.address()" })))
    )
  })
})

/** `n` distinct free ports on 127.0.0.1 (all probe servers are open at once, so no port comes twice). */
export const freePorts = (n: number): Effect.Effect<Array<number>, BrokerError> =>
  Effect.callback<Array<number>, BrokerError>((resume) => {
    const servers: Array<Net.Server> = []
    const ports: Array<number> = []
    let failed = false
    const closeAll = (then: () => void) => {
      let open = servers.length
      if (open === 0) return then()
      for (const s of servers) {
        s.close(() => {
          open -= 1
          if (open === 0) then()
        })
      }
    }
    for (let i = 0; i < n; i++) {
      const server = Net.createServer()
      servers.push(server)
      server.once("error", (cause) => {
        if (failed) return
        failed = true
        closeAll(() => resume(Effect.fail(new BrokerError({ message: "cannot pick free ports", cause }))))
      })
      server.listen(0, HOST, () => {
        const address = server.address()
        ports.push(typeof address === "object" && address !== null ? address.port : 0)
        if (ports.length === n && !failed) closeAll(() => resume(Effect.succeed(ports)))
      })
    }
  })

/** A TCP server of a test helper, listening on 127.0.0.1. */
export interface Listener {
  readonly port: number
  /** The accepted sockets that are still open. */
  readonly sockets: ReadonlySet<Net.Socket>
}

/**
 * Listens on 127.0.0.1 (`options.port`, or an ephemeral port) for the life of the scope, handing each
 * accepted socket to `onConnection`. When the scope closes, `options.beforeClose` runs, every accepted
 * socket still open is destroyed (`server.close` alone would wait for them) and the server is closed.
 */
export const listen = (
  what: string,
  onConnection: (socket: Net.Socket) => void,
  options: { readonly port?: number | undefined; readonly beforeClose?: () => void } = {}
): Effect.Effect<Listener, BrokerError, Scope.Scope> => {
  const sockets = new Set<Net.Socket>()
  return Effect.acquireRelease(
    Effect.callback<Net.Server, BrokerError>((resume) => {
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.once("close", () => sockets.delete(socket))
        onConnection(socket)
      })
      server.once("error", (cause) => resume(Effect.fail(new BrokerError({ message: `${what} cannot listen: ${String(cause)}`, cause }))))
      server.listen(options.port ?? 0, HOST, () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        options.beforeClose?.()
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(
    Effect.map((server) => {
      const address = server.address()
      return { port: typeof address === "object" && address !== null ? address.port : 0, sockets }
    })
  )
}

/**
 * A fresh temp dir `$TMPDIR/PREFIX…` (with `mode` when given, e.g. `0o777` for a broker that drops root
 * before it reads its files: mkdtemp makes the dir 0700), removed with its contents when the scope closes.
 * Fails with a {@link BrokerError} "cannot create the WHAT temp dir".
 */
export const scopedTempDir = (prefix: string, what: string, mode?: number): Effect.Effect<string, BrokerError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))
        if (mode !== undefined) Fs.chmodSync(dir, mode)
        return dir
      },
      catch: (cause) => new BrokerError({ message: `cannot create the ${what} temp dir`, cause })
    }),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Tries one TCP connection to 127.0.0.1:port; succeeds with `true` when it connects. Never fails. */
export const tcpProbe = (port: number, timeoutMs = 500): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.createConnection({ host: HOST, port })
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

/** `path` when it is an executable regular file, `undefined` otherwise (missing, not executable, a dir). */
export const executableAt = (path: string): string | undefined => {
  try {
    Fs.accessSync(path, Fs.constants.X_OK)
    return Fs.statSync(path).isFile() ? path : undefined
  } catch {
    return undefined
  }
}

/** Resolves the absolute path of an executable from `PATH` (plus the sbin dirs), without a shell. */
export const findExecutable = (name: string): string | undefined => {
  const dirs = (process.env.PATH ?? "").split(Path.delimiter).filter((d) => d.length > 0)
  for (const extra of ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"]) {
    if (!dirs.includes(extra)) dirs.push(extra)
  }
  for (const dir of dirs) {
    const found = executableAt(Path.join(dir, name))
    if (found !== undefined) return found
  }
  return undefined
}

/** `true` while the process with this PID exists (signal 0 probe). */
export const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Sends a signal to a PID, ignoring "no such process". */
export const signalPid = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

/** A spawned child process with its output split into lines. */
export interface RunningProcess {
  readonly child: ChildProcess.ChildProcess
  readonly pid: number
  readonly stdoutLines: Array<string>
  readonly stderrLines: Array<string>
  /** Called (synchronously) on every new stdout/stderr line and at exit. */
  readonly listeners: Set<() => void>
  exited: boolean
  exitCode: number | null
  exitSignal: NodeJS.Signals | null
}

/** Lines kept per log: a broker logging every packet of a 100k-message test must not fill the test's heap. */
export const MAX_LOG_LINES = 20_000

/** Appends lines, keeping only the newest {@link MAX_LOG_LINES} (no spread: arrays may be huge). */
export const appendLines = (into: Array<string>, lines: ReadonlyArray<string>): void => {
  for (const line of lines) into.push(line)
  if (into.length > 2 * MAX_LOG_LINES) into.splice(0, into.length - MAX_LOG_LINES)
}

const lineSplitter = (into: Array<string>, notify: () => void) => {
  let pending = ""
  return {
    push: (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      const parts = pending.split("\n")
      pending = parts.pop() ?? ""
      appendLines(into, parts.map((line) => line.replace(/\r$/, "")))
      if (parts.length > 0) notify()
    },
    flush: () => {
      if (pending.length > 0) into.push(pending)
      pending = ""
    }
  }
}

/** Spawns a program (no shell) and tracks its lines and exit. Not scoped: see {@link stopProcess}. */
export const spawnProcess = (command: string, args: ReadonlyArray<string>): Effect.Effect<RunningProcess, BrokerError> =>
  Effect.callback<RunningProcess, BrokerError>((resume) => {
    const child = ChildProcess.spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    const proc: RunningProcess = {
      child,
      pid: child.pid ?? -1,
      stdoutLines: [],
      stderrLines: [],
      listeners: new Set(),
      exited: false,
      exitCode: null,
      exitSignal: null
    }
    const notify = () => {
      for (const l of [...proc.listeners]) l()
    }
    const out = lineSplitter(proc.stdoutLines, notify)
    const err = lineSplitter(proc.stderrLines, notify)
    child.stdout?.on("data", out.push)
    child.stderr?.on("data", err.push)
    child.once("error", (cause) => {
      if (child.pid === undefined) {
        resume(Effect.fail(new BrokerError({ message: `cannot spawn ${command}: ${String(cause)}`, cause })))
      }
    })
    child.once("close", (code, signal) => {
      out.flush()
      err.flush()
      proc.exited = true
      proc.exitCode = code
      proc.exitSignal = signal
      notify()
    })
    if (child.pid !== undefined) resume(Effect.succeed(proc))
  })

/** Waits until `check` returns a value (re-checked on every line/exit of the process), at most `timeoutMs`. */
export const waitOnProcess = <A>(
  proc: RunningProcess,
  check: () => A | undefined,
  timeoutMs: number
): Effect.Effect<A | undefined> =>
  Effect.callback<A | undefined>((resume) => {
    let settled = false
    const listener = () => {
      if (settled) return
      const value = check()
      if (value !== undefined || proc.exited) finish(value)
    }
    const finish = (value: A | undefined) => {
      settled = true
      clearTimeout(timer)
      proc.listeners.delete(listener)
      resume(Effect.succeed(value))
    }
    const timer = setTimeout(() => finish(check()), timeoutMs)
    proc.listeners.add(listener)
    listener()
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      proc.listeners.delete(listener)
    })
  })

/** Waits for the exit of the process, at most `timeoutMs`; succeeds with whether it exited. */
export const waitExit = (proc: RunningProcess, timeoutMs: number): Effect.Effect<boolean> =>
  Effect.map(waitOnProcess(proc, () => (proc.exited ? true : undefined), timeoutMs), (v) => v === true)

/**
 * Stops a process by its PID: SIGCONT (in case it was SIGSTOPped), SIGTERM (repeated every 100 ms), then
 * SIGKILL after `graceMs`, and waits for its exit.
 */
export const stopProcess = (proc: RunningProcess, graceMs = 2000): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (proc.exited) return
    signalPid(proc.pid, "SIGCONT")
    // Trap (mosquitto 2.0.11): a SIGTERM that lands while the main loop is between its `run` check and
    // epoll_wait is only noticed at the next wake-up, which can be many seconds away on an idle broker.
    // Repeating the signal interrupts the wait.
    const deadline = Date.now() + graceMs
    while (Date.now() < deadline) {
      signalPid(proc.pid, "SIGTERM")
      if (yield* waitExit(proc, Math.min(100, Math.max(1, deadline - Date.now())))) return
    }
    signalPid(proc.pid, "SIGKILL")
    yield* waitExit(proc, 5000)
  })

/** A growing list of observations that tests can wait on. */
export class Observed<A> {
  readonly items: Array<A> = []
  private readonly listeners = new Set<() => void>()

  /** Appends an item and wakes the waiters. */
  push(item: A): void {
    this.items.push(item)
    for (const l of [...this.listeners]) l()
  }

  /** Waits for the first item (already seen or future) matching `predicate`, failing after `timeoutMs`. */
  waitFor(predicate: (a: A) => boolean, timeoutMs: number, what: string): Effect.Effect<A, BrokerError> {
    return Effect.callback<A, BrokerError>((resume) => {
      const listener = () => {
        const found = this.items.find(predicate)
        if (found !== undefined) {
          cleanup()
          resume(Effect.succeed(found))
        }
      }
      const cleanup = () => {
        clearTimeout(timer)
        this.listeners.delete(listener)
      }
      const timer = setTimeout(() => {
        cleanup()
        resume(Effect.fail(new BrokerError({ message: `timed out after ${timeoutMs} ms waiting for ${what}` })))
      }, timeoutMs)
      this.listeners.add(listener)
      listener()
      return Effect.sync(cleanup)
    })
  }
}
