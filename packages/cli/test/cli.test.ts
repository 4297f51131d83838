/**
 * The `aimeqtt` binary as a subprocess (Node type stripping on `src/bin.ts`, client from source)
 * against a real mosquitto, with `mosquitto_sub` / `mosquitto_pub` as peers.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import {
  Certificates,
  type CertificateSet,
  describeMosquitto,
  freePort,
  Mosquitto,
  type MosquittoBroker,
  mosquittoPub,
  mosquittoSub
} from "../../client/test/brokers/index.ts"
import { tempDir } from "../../client/test/util.ts"
import { VERSION } from "../src/Cli.ts"
import { runInProcess } from "./util.ts"

const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
const packageJson = fileURLToPath(new URL("../package.json", import.meta.url))

/** A running `aimeqtt` process. */
interface Cli {
  readonly pid: number
  readonly stdout: () => string
  /** stdout as raw bytes (binary payloads). */
  readonly stdoutBytes: () => Buffer
  readonly stderr: () => string
  /** Waits for the exit (at most `timeoutMs`), failing with the output so far on timeout. */
  readonly exit: (timeoutMs?: number) => Effect.Effect<{ readonly code: number | null; readonly signal: string | null }, Error>
}

interface CliOptions {
  /** Written to stdin, which is then closed. Default: stdin closed at once. */
  readonly stdin?: string | Uint8Array
  /** Extra environment variables (MQTT_PASSWORD is removed from the inherited env unless given here). */
  readonly env?: Readonly<Record<string, string>>
}

/** Spawns `node --conditions=@aimeqtt/source src/bin.ts ...args`; killed by PID (SIGKILL) when the scope closes. */
const spawnCli = (args: ReadonlyArray<string>, options: CliOptions = {}): Effect.Effect<Cli, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const env: Record<string, string | undefined> = { ...process.env, MQTT_PASSWORD: undefined, ...options.env }
      const child = ChildProcess.spawn(process.execPath, ["--conditions=@aimeqtt/source", bin, ...args], {
        stdio: ["pipe", "pipe", "pipe"],
        env
      })
      const stdoutChunks: Array<Buffer> = []
      let stderr = ""
      let exited: { code: number | null; signal: string | null } | undefined
      const waiters = new Set<() => void>()
      child.stdout.on("data", (chunk: Buffer) => {
        stdoutChunks.push(chunk)
      })
      const stdoutBytes = () => Buffer.concat(stdoutChunks)
      const stdout = () => stdoutBytes().toString("utf8")
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8")
      })
      child.stdin.on("error", () => {}) // EPIPE when the CLI exits before reading stdin
      child.once("close", (code, signal) => {
        exited = { code, signal }
        for (const w of [...waiters]) w()
      })
      child.stdin.end(options.stdin ?? "")
      const cli: Cli & { readonly child: ChildProcess.ChildProcess; readonly exited: () => boolean } = {
        child,
        exited: () => exited !== undefined,
        pid: child.pid ?? -1,
        stdout,
        stdoutBytes,
        stderr: () => stderr,
        exit: (timeoutMs = 10_000) =>
          Effect.callback<{ code: number | null; signal: string | null }, Error>((resume) => {
            const done = () => {
              if (exited === undefined) return
              clearTimeout(timer)
              waiters.delete(done)
              resume(Effect.succeed(exited))
            }
            const timer = setTimeout(() => {
              waiters.delete(done)
              resume(Effect.fail(new Error(`aimeqtt ${args.join(" ")} did not exit within ${timeoutMs} ms\nstdout: ${stdout()}\nstderr: ${stderr}`)))
            }, timeoutMs)
            waiters.add(done)
            done()
            return Effect.sync(() => {
              clearTimeout(timer)
              waiters.delete(done)
            })
          })
      }
      return cli
    }),
    (cli) =>
      Effect.sync(() => {
        if (!cli.exited() && cli.pid > 0) {
          try {
            process.kill(cli.pid, "SIGKILL")
          } catch {
            // already gone
          }
        }
      })
  )

/** Runs `aimeqtt ...args` to its end (bounded) and returns the exit code and output. */
const runCli = (args: ReadonlyArray<string>, options: CliOptions = {}, timeoutMs = 15_000) =>
  Effect.gen(function*() {
    const cli = yield* spawnCli(args, options)
    const { code, signal } = yield* cli.exit(timeoutMs)
    return { code, signal, stdout: cli.stdout(), stdoutBytes: cli.stdoutBytes(), stderr: cli.stderr() }
  })

/** Waits until the broker log has a line matching `match` (the CLI's SUBACK, a DISCONNECT, ...). */
const awaitLog = (broker: MosquittoBroker, match: (line: string) => boolean, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const lines = (yield* broker.logs).filter(match)
      if (lines.length > 0) return lines
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`no matching log line within ${timeoutMs} ms; log:\n${broker.logText()}`))
      yield* Effect.sleep("25 millis")
    }
  })

/** Starts `aimeqtt sub` with client id `id` and waits until mosquitto has sent its SUBACK. */
const startSub = (broker: MosquittoBroker, id: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const cli = yield* spawnCli(["sub", "-p", String(broker.port), "-H", "127.0.0.1", "-i", id, ...args])
    yield* awaitLog(broker, (l) => l.includes(`Sending SUBACK to ${id}`))
    return cli
  })

const hostPort = (broker: MosquittoBroker) => ["-H", "127.0.0.1", "-p", String(broker.port)]

describeMosquitto("aimeqtt CLI against mosquitto", () => {
  it.live("pub: a message reaches mosquitto_sub (QoS 1), then disconnects (exit 0)", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* mosquittoSub({ port: broker.port, topic: "cli/pub", count: 1, qos: 1 })
      const run = yield* runCli(["pub", ...hostPort(broker), "-t", "cli/pub", "-m", "hello world", "-q", "1", "-i", "pub-1"])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.deepStrictEqual(yield* sub.lines, ["cli/pub hello world"])
      yield* awaitLog(broker, (l) => l.includes("Client pub-1 disconnected."))
    }), 60_000)

  it.live("--protocol-version mqttv5: pub speaks MQTT 5.0 (mosquitto logs its protocol), a retained message reaches a v5 sub", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const run = yield* runCli(["pub", ...hostPort(broker), "--protocol-version", "mqttv5", "-t", "cli/v5", "-m", "five", "-q", "1", "-r", "-i", "pub-v5"])
      assert.strictEqual(run.code, 0, run.stderr)
      yield* awaitLog(broker, (l) => l.includes("pub-v5") && l.includes("p5"))
      const later = yield* runCli(["sub", ...hostPort(broker), "--protocol-version", "5", "-t", "cli/v5", "-C", "1", "-d"])
      assert.strictEqual(later.code, 0, later.stderr)
      assert.strictEqual(later.stdout.trim(), "five")
      assert.match(later.stderr, /received CONNACK \(0\)/)
      // --json shows a v5 message's properties
      const json = yield* runCli(["sub", ...hostPort(broker), "--protocol-version", "5", "-t", "cli/v5p", "-C", "1", "--json", "-W", "10"])
        .pipe(Effect.forkScoped({ startImmediately: true }))
      yield* awaitLog(broker, (l) => l.includes("cli/v5p"))
      yield* mosquittoPub({
        port: broker.port,
        topic: "cli/v5p",
        message: "with props",
        extraArgs: ["-V", "mqttv5", "-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type", "text/plain"]
      })
      const printed = yield* Fiber.join(json)
      assert.strictEqual(printed.code, 0, printed.stderr)
      assert.deepStrictEqual(JSON.parse(printed.stdout.trim()), {
        topic: "cli/v5p",
        payload: "with props",
        qos: 0,
        retain: false,
        properties: { contentType: "text/plain", userProperties: [["k", "v"]] }
      })
      // pub sets them too: --user-property (in order, repeats kept), --content-type, --message-expiry
      const received = yield* runCli(["sub", ...hostPort(broker), "--protocol-version", "5", "-t", "cli/v5q", "-C", "1", "--json", "-W", "10"])
        .pipe(Effect.forkScoped({ startImmediately: true }))
      yield* awaitLog(broker, (l) => l.includes("cli/v5q"))
      const sent = yield* runCli([
        "pub", ...hostPort(broker), "--protocol-version", "mqttv5", "-t", "cli/v5q", "-m", "p", "-q", "1",
        "--user-property", "a=1", "--user-property", "b=x=y", "--user-property", "a=2", "--content-type", "text/plain", "--message-expiry", "60"
      ])
      assert.strictEqual(sent.code, 0, sent.stderr)
      const got = yield* Fiber.join(received)
      const parsed = JSON.parse(got.stdout.trim()) as { properties: Record<string, unknown> }
      assert.deepStrictEqual(parsed.properties.userProperties, [["a", "1"], ["b", "x=y"], ["a", "2"]])
      assert.strictEqual(parsed.properties.contentType, "text/plain")
      assert.isNumber(parsed.properties.messageExpiryInterval)
      // under 3.1.1 they are a usage error; a property the broker would drop the connection for, too
      const v4 = yield* runCli(["pub", ...hostPort(broker), "-t", "cli/v5q", "-m", "p", "--user-property", "a=1"])
      assert.strictEqual(v4.code, 2, v4.stderr)
      assert.include(v4.stderr, "--protocol-version mqttv5")
      const control = yield* runCli(["pub", ...hostPort(broker), "--protocol-version", "5", "-t", "cli/v5q", "-m", "p", "--content-type", "a\u0007b"])
      assert.strictEqual(control.code, 2, control.stderr)
      assert.include(control.stderr, "contentType")
    }), 60_000)

  it.live("pub -q 2 -r: exactly-once flow, retained for a later sub --json", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* mosquittoSub({ port: broker.port, topic: "cli/q2", count: 1, qos: 2 })
      const run = yield* runCli(["pub", "--url", broker.url, "-t", "cli/q2", "-m", "two", "-q", "2", "-r", "-i", "pub-q2"])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.deepStrictEqual(yield* sub.lines, ["cli/q2 two"])
      // the QoS 2 flow completed before DISCONNECT
      yield* awaitLog(broker, (l) => l.includes("Received PUBREL from pub-q2"))
      const later = yield* runCli(["sub", ...hostPort(broker), "-t", "cli/q2", "-C", "1", "--json", "-q", "2"])
      assert.strictEqual(later.code, 0, later.stderr)
      assert.deepStrictEqual(JSON.parse(later.stdout.trim()), { topic: "cli/q2", payload: "two", qos: 2, retain: true })
    }), 60_000)

  it.live("pub -l: one message per stdin line (3 lines -> 3 messages)", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* mosquittoSub({ port: broker.port, topic: "cli/lines", count: 3, qos: 1 })
      const run = yield* runCli(["pub", ...hostPort(broker), "-t", "cli/lines", "-l", "-q", "1"], {
        stdin: "first line\nsecond\nthird\n"
      })
      assert.strictEqual(run.code, 0, run.stderr)
      assert.deepStrictEqual(yield* sub.lines, ["cli/lines first line", "cli/lines second", "cli/lines third"])
    }), 60_000)

  it.live("pub -f FILE and -n (null message)", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-cli-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const file = Path.join(dir, "payload.txt")
      Fs.writeFileSync(file, "from a file")
      const sub = yield* startSub(broker, "sub-file", ["-t", "cli/file", "-t", "cli/null", "-C", "2", "--json"])
      const fromFile = yield* runCli(["pub", ...hostPort(broker), "-t", "cli/file", "-f", file])
      assert.strictEqual(fromFile.code, 0, fromFile.stderr)
      const empty = yield* runCli(["pub", ...hostPort(broker), "-t", "cli/null", "-n"])
      assert.strictEqual(empty.code, 0, empty.stderr)
      const exit = yield* sub.exit()
      assert.strictEqual(exit.code, 0, sub.stderr())
      assert.deepStrictEqual(sub.stdout().trim().split("\n").map((l) => JSON.parse(l)), [
        { topic: "cli/file", payload: "from a file", qos: 0, retain: false },
        { topic: "cli/null", payload: "", qos: 0, retain: false }
      ])
    }), 60_000)

  it.live("sub -C 1: prints the payload of a mosquitto_pub message and exits 0", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* startSub(broker, "sub-plain", ["-t", "cli/sub/#", "-C", "1"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/sub/a", message: "plain payload" })
      const exit = yield* sub.exit()
      assert.strictEqual(exit.code, 0, sub.stderr())
      assert.strictEqual(sub.stdout(), "plain payload\n")
      yield* awaitLog(broker, (l) => l.includes("Client sub-plain disconnected."))
    }), 60_000)

  it.live("sub --verbose (-V): prints \"topic payload\"", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* startSub(broker, "sub-verbose", ["-t", "cli/v/+", "-C", "2", "-V"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/v/1", message: "one" })
      yield* mosquittoPub({ port: broker.port, topic: "cli/v/2", message: "two words" })
      const exit = yield* sub.exit()
      assert.strictEqual(exit.code, 0, sub.stderr())
      assert.strictEqual(sub.stdout(), "cli/v/1 one\ncli/v/2 two words\n")
    }), 60_000)

  it.live("sub --json -q 2: one JSON object per line with topic, payload, qos, retain", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* startSub(broker, "sub-json", ["-t", "cli/j", "-t", "cli/k", "-C", "2", "--json", "-q", "2"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/j", message: "{\"a\":1}", qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "cli/k", message: "x y", qos: 2 })
      const exit = yield* sub.exit()
      assert.strictEqual(exit.code, 0, sub.stderr())
      assert.deepStrictEqual(sub.stdout().trim().split("\n").map((l) => JSON.parse(l)), [
        { topic: "cli/j", payload: "{\"a\":1}", qos: 1, retain: false },
        { topic: "cli/k", payload: "x y", qos: 2, retain: false }
      ])
    }), 60_000)

  it.live("wrong password: exit 5, \"Connection refused: not authorized\" on stderr, password never printed", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ users: { alice: "secret" } })
      const started = Date.now()
      const run = yield* runCli(["pub", ...hostPort(broker), "-u", "alice", "-P", "wrong-pw-Zq9", "-t", "a", "-m", "x"])
      assert.strictEqual(run.code, 5, run.stderr)
      assert.include(run.stderr, "Connection refused: not authorized")
      assert.isBelow(Date.now() - started, 5000)
      assert.notInclude(run.stderr + run.stdout, "wrong-pw-Zq9")
      // the same through MQTT_PASSWORD
      const fromEnv = yield* runCli(["sub", ...hostPort(broker), "-u", "alice", "-t", "a", "-C", "1"], {
        env: { MQTT_PASSWORD: "wrong-pw-Zq9" }
      })
      assert.strictEqual(fromEnv.code, 5, fromEnv.stderr)
      assert.notInclude(fromEnv.stderr + fromEnv.stdout, "wrong-pw-Zq9")
      // MQTT 5.0: the reason code (mosquitto 2.0.11 sends 0x87 Not authorized) as exit code and in the message
      const v5 = yield* runCli(["pub", ...hostPort(broker), "--protocol-version", "mqttv5", "-u", "alice", "-P", "wrong-pw-Zq9", "-t", "a", "-m", "x"])
      assert.strictEqual(v5.code, 0x87, v5.stderr)
      assert.include(v5.stderr, "Connection refused: Not authorized (CONNACK reason code 0x87)")
      assert.notInclude(v5.stderr + v5.stdout, "wrong-pw-Zq9")
    }), 60_000)

  it.live("right password from -P and from MQTT_PASSWORD: published", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ users: { alice: "secret" } })
      const sub = yield* mosquittoSub({ port: broker.port, topic: "auth/#", count: 2, username: "alice", password: "secret" })
      const flag = yield* runCli(["pub", ...hostPort(broker), "-u", "alice", "-P", "secret", "-t", "auth/flag", "-m", "1"])
      assert.strictEqual(flag.code, 0, flag.stderr)
      const env = yield* runCli(["pub", ...hostPort(broker), "-u", "alice", "-t", "auth/env", "-m", "2"], {
        env: { MQTT_PASSWORD: "secret" }
      })
      assert.strictEqual(env.code, 0, env.stderr)
      assert.deepStrictEqual(yield* sub.lines, ["auth/flag 1", "auth/env 2"])
    }), 60_000)

  it.live("unreachable broker: pub and sub fail at once (exit 1, the refusal on stderr), not after --connect-timeout", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const target = ["-H", "127.0.0.1", "-p", String(port), "-t", "a"]
      const started = Date.now()
      // with the default --connect-timeout of 10 s, a retrying CLI could not finish within 5 s
      const pub = yield* runCli(["pub", ...target, "-m", "x"])
      assert.strictEqual(pub.code, 1, pub.stderr)
      assert.include(pub.stderr, `could not connect to mqtt://127.0.0.1:${port}`)
      assert.include(pub.stderr, "ECONNREFUSED")
      assert.notInclude(pub.stderr, "within") // the first attempt's error, not a timeout
      assert.isBelow(Date.now() - started, 5000)
      const sub = yield* runCli(["sub", ...target, "-C", "1"])
      assert.strictEqual(sub.code, 1, sub.stderr)
      assert.include(sub.stderr, "ECONNREFUSED")
    }), 60_000)

  it.live("--retry: retries until --connect-timeout, then exit 1 naming the timeout and the last error", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const run = yield* runCli(["pub", "-H", "127.0.0.1", "-p", String(port), "--retry", "--connect-timeout", "1", "-t", "a", "-m", "x"])
      assert.strictEqual(run.code, 1, run.stderr)
      assert.include(run.stderr, "could not connect within 1s")
      assert.include(run.stderr, "ECONNREFUSED")
    }), 60_000)

  it.live("invalid topic: pub a/+ and sub a/#/b exit 2 with the reason, without connecting", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const pub = yield* runCli(["pub", ...hostPort(broker), "-t", "a/+", "-m", "x", "-i", "bad-pub"])
      assert.strictEqual(pub.code, 2)
      assert.include(pub.stderr, "invalid topic \"a/+\"")
      assert.include(pub.stderr, "wildcard")
      const sub = yield* runCli(["sub", ...hostPort(broker), "-t", "a/#/b", "-i", "bad-sub"])
      assert.strictEqual(sub.code, 2)
      assert.include(sub.stderr, "invalid topic \"a/#/b\"")
      const log = broker.logText()
      assert.notInclude(log, "bad-pub")
      assert.notInclude(log, "bad-sub")
    }), 60_000)

  it.live("SIGINT stops a running sub promptly with a clean DISCONNECT (exit 130)", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* startSub(broker, "sub-sigint", ["-t", "cli/forever"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/forever", message: "still here" })
      const deadline = Date.now() + 5000
      while (!sub.stdout().includes("still here") && Date.now() < deadline) yield* Effect.sleep("25 millis")
      assert.strictEqual(sub.stdout(), "still here\n")
      const started = Date.now()
      process.kill(sub.pid, "SIGINT")
      const exit = yield* sub.exit(5000)
      assert.strictEqual(exit.code, 130, sub.stderr())
      assert.isBelow(Date.now() - started, 3000)
      yield* awaitLog(broker, (l) => l.includes("Received DISCONNECT from sub-sigint"))
      yield* awaitLog(broker, (l) => l.includes("Client sub-sigint disconnected."))
      assert.notInclude(broker.logText(), "Client sub-sigint closed its connection")
    }), 60_000)
})

/** Waits until a running CLI's stderr contains `text` (its `-d` lines, say). */
const awaitStderr = (cli: Cli, text: string, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!cli.stderr().includes(text)) {
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`no ${JSON.stringify(text)} on stderr within ${timeoutMs} ms:\n${cli.stderr()}`))
      yield* Effect.sleep("25 millis")
    }
  })

/** Runs `mosquitto_sub`/`mosquitto_pub` with these arguments to its end (at most 10 s). */
const mosquittoTool = (tool: "mosquitto_sub" | "mosquitto_pub", broker: MosquittoBroker, args: ReadonlyArray<string>) =>
  Effect.sync(() => ChildProcess.spawnSync(tool, ["-h", "127.0.0.1", "-p", String(broker.port), ...args], { timeout: 10_000 }))

describeMosquitto("aimeqtt CLI: mosquitto_pub / mosquitto_sub flags for scripts", () => {
  it.live("binary payloads: sub writes the raw bytes (256 random bytes from mosquitto_pub -f, pub -f and pub -s)", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const dir = yield* tempDir("aimeqtt-cli-")
      const bytes = Crypto.randomBytes(256)
      bytes[0] = 0xff // never valid UTF-8: decoding it would change it
      bytes[1] = 0xc3
      const file = Path.join(dir, "random.bin")
      Fs.writeFileSync(file, bytes)

      // default: the payload as received, then a newline (as mosquitto_sub)
      const plain = yield* startSub(broker, "sub-bin", ["-t", "cli/bin", "-C", "1"])
      const published = yield* mosquittoTool("mosquitto_pub", broker, ["-t", "cli/bin", "-f", file])
      assert.strictEqual(published.status, 0, String(published.stderr))
      assert.strictEqual((yield* plain.exit()).code, 0, plain.stderr())
      assert.isTrue(plain.stdoutBytes().equals(Buffer.concat([bytes, Buffer.from("\n")])), `got ${plain.stdoutBytes().length} bytes`)

      // -N: exactly the published bytes, message after message (our pub -f, then pub -s from stdin)
      const raw = yield* startSub(broker, "sub-bin-n", ["-t", "cli/bin", "-C", "2", "-N", "-q", "1"])
      const fromFile = yield* runCli(["pub", ...hostPort(broker), "-t", "cli/bin", "-f", file, "-q", "1"])
      assert.strictEqual(fromFile.code, 0, fromFile.stderr)
      const fromStdin = yield* runCli(["pub", ...hostPort(broker), "-t", "cli/bin", "-s", "-q", "1"], { stdin: bytes })
      assert.strictEqual(fromStdin.code, 0, fromStdin.stderr)
      assert.strictEqual((yield* raw.exit()).code, 0, raw.stderr())
      assert.isTrue(raw.stdoutBytes().equals(Buffer.concat([bytes, bytes])), `got ${raw.stdoutBytes().length} bytes`)
    }), 60_000)

  it.live("-N: no newline after each payload; -R: retained (stale) messages are neither printed nor counted", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      yield* mosquittoPub({ port: broker.port, topic: "cli/r/old", message: "stale", retain: true })
      const fresh = yield* startSub(broker, "sub-r", ["-t", "cli/r/#", "-R", "-N", "-C", "2"])
      // the retained message went out to it before the fresh ones
      yield* awaitLog(broker, (l) => l.includes("Sending PUBLISH to sub-r") && l.includes("r1"))
      yield* mosquittoPub({ port: broker.port, topic: "cli/r/new", message: "one" })
      yield* mosquittoPub({ port: broker.port, topic: "cli/r/new", message: "two" })
      assert.strictEqual((yield* fresh.exit()).code, 0, fresh.stderr())
      assert.strictEqual(fresh.stdout(), "onetwo")
      // without -R the retained message is printed, with its newline
      const all = yield* runCli(["sub", ...hostPort(broker), "-t", "cli/r/#", "-C", "1"])
      assert.strictEqual(all.code, 0, all.stderr)
      assert.strictEqual(all.stdout, "stale\n")
    }), 60_000)

  it.live("-W: exit 27 (\"timed out\") with a clean DISCONNECT unless -C messages arrived first (then 0)", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const quiet = yield* runCli(["sub", ...hostPort(broker), "-t", "cli/w", "-W", "1", "-i", "sub-w"])
      assert.strictEqual(quiet.code, 27, quiet.stderr)
      assert.include(quiet.stderr, "timed out after 1s (-W)")
      yield* awaitLog(broker, (l) => l.includes("Received DISCONNECT from sub-w"))
      // messages printed before the timeout are kept; without -C it still ends as a timeout (as mosquitto_sub)
      const some = yield* startSub(broker, "sub-w2", ["-t", "cli/w", "-W", "2"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/w", message: "in time" })
      assert.strictEqual((yield* some.exit()).code, 27, some.stderr())
      assert.strictEqual(some.stdout(), "in time\n")
      // -C reached first: exit 0
      const enough = yield* startSub(broker, "sub-w3", ["-t", "cli/w", "-W", "30", "-C", "1"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/w", message: "done" })
      assert.strictEqual((yield* enough.exit()).code, 0, enough.stderr())
      assert.strictEqual(enough.stdout(), "done\n")
    }), 60_000)

  it.live("-F: byte for byte what mosquitto_sub -F prints for %t %p %q %r %l %x %X %% @@ and escapes; %m is the PUBLISH packet id", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const format = "%t|%p|%q|%r|%l|%x|%X|%%|@@|\\t|\\\\|\\n"
      yield* mosquittoPub({ port: broker.port, topic: "cli/f", message: "Hi:)", qos: 1, retain: true })
      const ours = yield* runCli(["sub", ...hostPort(broker), "-t", "cli/f", "-q", "1", "-C", "1", "-F", format])
      assert.strictEqual(ours.code, 0, ours.stderr)
      assert.strictEqual(ours.stdout, "cli/f|Hi:)|1|1|4|48693a29|48693A29|%|@|\t|\\|\n\n")
      const theirs = yield* mosquittoTool("mosquitto_sub", broker, ["-t", "cli/f", "-q", "1", "-C", "1", "-F", format])
      assert.strictEqual(theirs.status, 0, String(theirs.stderr))
      assert.isTrue(ours.stdoutBytes.equals(theirs.stdout), `mosquitto_sub printed ${JSON.stringify(String(theirs.stdout))}`)
      // %m: the packet identifier of the PUBLISH (as its -d line shows), 0 at QoS 0
      const withId = yield* startSub(broker, "sub-m", ["-t", "cli/m", "-q", "1", "-C", "2", "-d", "-F", "%m %q %p"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/m", message: "a", qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "cli/m", message: "b", qos: 0 })
      assert.strictEqual((yield* withId.exit()).code, 0, withId.stderr())
      const mid = /received PUBLISH \(d0, q1, r0, m(\d+), 'cli\/m'/.exec(withId.stderr())?.[1]
      if (mid === undefined) return assert.fail(withId.stderr())
      assert.notStrictEqual(mid, "0")
      assert.strictEqual(withId.stdout(), `${mid} 1 a\n0 0 b\n`)
    }), 60_000)

  it.live("-d: mosquitto-style packet lines on stderr (pub QoS 1, sub QoS 2), never the password, stdout untouched", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start({ users: { alice: "pw-Zq9-debug" } })
      const sub = yield* spawnCli(["sub", ...hostPort(broker), "-u", "alice", "-i", "dbg-sub", "-t", "cli/d", "-q", "2", "-C", "1", "-d"], {
        env: { MQTT_PASSWORD: "pw-Zq9-debug" }
      })
      yield* awaitStderr(sub, "Client dbg-sub received SUBACK")
      const pub = yield* runCli([
        "pub", ...hostPort(broker), "-u", "alice", "-P", "pw-Zq9-debug", "-i", "dbg-pub", "-t", "cli/d", "-m", "hello", "-q", "1", "-d"
      ])
      assert.strictEqual(pub.code, 0, pub.stderr)
      assert.strictEqual(pub.stdout, "")
      assert.deepStrictEqual(pub.stderr.trim().split("\n"), [
        "Client dbg-pub sending CONNECT",
        "Client dbg-pub received CONNACK (0)",
        "Client dbg-pub sending PUBLISH (d0, q1, r0, m1, 'cli/d', ... (5 bytes))",
        "Client dbg-pub received PUBACK (Mid: 1, RC:0)",
        "Client dbg-pub sending DISCONNECT"
      ])
      assert.strictEqual((yield* sub.exit()).code, 0, sub.stderr())
      assert.strictEqual(sub.stdout(), "hello\n")
      const lines = sub.stderr().trim().split("\n")
      for (
        const expected of [
          "Client dbg-sub sending CONNECT",
          "Client dbg-sub received CONNACK (0)",
          "Client dbg-sub sending SUBSCRIBE (Mid: 1, Topic: cli/d, QoS: 2)",
          "Client dbg-sub received SUBACK (Mid: 1, granted: 2)",
          "Client dbg-sub sending DISCONNECT"
        ]
      ) assert.include(lines, expected)
      // delivered at QoS 1 (the publisher's), acknowledged with PUBACK
      assert.match(sub.stderr(), /received PUBLISH \(d0, q1, r0, m(\d+), 'cli\/d', \.\.\. \(5 bytes\)\)\n.*sending PUBACK \(m\1, rc0\)/)
      for (const output of [pub.stderr, pub.stdout, sub.stderr(), sub.stdout()]) {
        assert.notInclude(output, "pw-Zq9")
        assert.notInclude(output.toLowerCase(), "password")
      }
    }), 60_000)

  it.live("--will-*: a sub killed without DISCONNECT leaves its will (payload, QoS, retain); pub sends its will in CONNECT", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const watcher = yield* mosquittoSub({ port: broker.port, topic: "cli/will", count: 1, qos: 1 })
      const sub = yield* startSub(broker, "sub-will", [
        "-t", "cli/other", "--will-topic", "cli/will", "--will-payload", "gone", "--will-qos", "1", "--will-retain"
      ])
      yield* awaitLog(broker, (l) => l.includes("Will message specified (4 bytes) (r1, q1)."))
      process.kill(sub.pid, "SIGKILL")
      assert.deepStrictEqual(yield* watcher.lines, ["cli/will gone"])
      const retained = yield* runCli(["sub", ...hostPort(broker), "-t", "cli/will", "-C", "1", "-q", "2", "--json"])
      assert.deepStrictEqual(JSON.parse(retained.stdout), { topic: "cli/will", payload: "gone", qos: 1, retain: true })
      // pub: the will (empty payload by default) is in its CONNECT
      const pub = yield* runCli(["pub", ...hostPort(broker), "-i", "pub-will", "-t", "cli/x", "-m", "x", "--will-topic", "cli/will2", "-d"])
      assert.strictEqual(pub.code, 0, pub.stderr)
      yield* awaitLog(broker, (l) => l.includes("Will message specified (0 bytes) (r0, q0)."))
      yield* awaitLog(broker, (l) => l.includes("Client pub-will disconnected."))
    }), 60_000)

  it.live("--repeat N --repeat-delay S: N messages, each acknowledged before the next is sent", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const sub = yield* mosquittoSub({ port: broker.port, topic: "cli/rep", count: 3, qos: 1 })
      const run = yield* runCli([
        "pub", ...hostPort(broker), "-i", "pub-rep", "-t", "cli/rep", "-m", "again", "-q", "1", "--repeat", "3", "--repeat-delay", "0.05", "-d"
      ])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.deepStrictEqual(yield* sub.lines, ["cli/rep again", "cli/rep again", "cli/rep again"])
      const flow = run.stderr.split("\n").filter((l) => l.includes("PUBLISH") || l.includes("PUBACK")).map((l) => l.split(" ").slice(2, 4).join(" "))
      assert.deepStrictEqual(flow, [
        "sending PUBLISH", "received PUBACK", "sending PUBLISH", "received PUBACK", "sending PUBLISH", "received PUBACK"
      ])
    }), 60_000)

  it.live("-c and -U: a persistent session keeps its subscriptions; -U removes one (alone: unsubscribe, exit 0)", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const first = yield* startSub(broker, "persist", ["-c", "-t", "cli/keep", "-t", "cli/drop", "-q", "1", "-C", "1"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/keep", message: "k0", qos: 1 })
      assert.strictEqual((yield* first.exit()).code, 0, first.stderr())
      // -U alone: UNSUBSCRIBE, UNSUBACK, DISCONNECT; the session (and cli/keep) stays
      const unsub = yield* runCli(["sub", ...hostPort(broker), "-c", "-i", "persist", "-U", "cli/drop", "-d"])
      assert.strictEqual(unsub.code, 0, unsub.stderr)
      assert.include(unsub.stderr, "sending UNSUBSCRIBE (Mid: 1, Topic: cli/drop)")
      assert.include(unsub.stderr, "received UNSUBACK (Mid: 1)")
      // while it is away: a message on the dropped filter first, then one on the kept one
      yield* mosquittoPub({ port: broker.port, topic: "cli/drop", message: "d1", qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "cli/keep", message: "k1", qos: 1 })
      const back = yield* runCli(["sub", ...hostPort(broker), "-c", "-i", "persist", "-t", "cli/keep", "-t", "cli/drop", "-q", "1", "-C", "1"])
      assert.strictEqual(back.code, 0, back.stderr)
      assert.strictEqual(back.stdout, "k1\n") // queued for the session; d1 was not
      // -t then -U in one run: SUBACK before UNSUBSCRIBE, as mosquitto_sub
      const both = yield* spawnCli(["sub", ...hostPort(broker), "-i", "sub-tu", "-t", "cli/t1", "-t", "cli/t2", "-U", "cli/t2", "-C", "1", "-d"])
      yield* awaitStderr(both, "received UNSUBACK")
      const order = both.stderr().split("\n").map((l) => l.split(" ")[3]).filter((p) => p !== undefined && p.includes("SUB"))
      assert.deepStrictEqual(order, ["SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK"])
      yield* mosquittoPub({ port: broker.port, topic: "cli/t2", message: "unsubscribed" })
      yield* mosquittoPub({ port: broker.port, topic: "cli/t1", message: "subscribed" })
      assert.strictEqual((yield* both.exit()).code, 0, both.stderr())
      assert.strictEqual(both.stdout(), "subscribed\n")
    }), 60_000)
})

const tlsListener = (certs: CertificateSet) =>
  `cafile ${certs.ca.certFile}\ncertfile ${certs.server.certFile}\nkeyfile ${certs.server.keyFile}`

describeMosquitto("aimeqtt CLI with TLS", () => {
  it.live("--cafile: sub and pub over mqtts:// (port from -p, TLS implied by the flag)", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs) })
      const tls = ["-H", "localhost", "-p", String(broker.port), "--cafile", certs.ca.certFile]
      const sub = yield* spawnCli(["sub", ...tls, "-i", "tls-sub", "-t", "tls/t", "-C", "1", "-V"])
      yield* awaitLog(broker, (l) => l.includes("Sending SUBACK to tls-sub"))
      const pub = yield* runCli(["pub", ...tls, "-t", "tls/t", "-m", "secure", "-q", "1"])
      assert.strictEqual(pub.code, 0, pub.stderr)
      const exit = yield* sub.exit()
      assert.strictEqual(exit.code, 0, sub.stderr())
      assert.strictEqual(sub.stdout(), "tls/t secure\n")
    }), 60_000)

  it.live("--cert/--key: mutual TLS, the certificate is the identity; the key never printed", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({
        extraConfig: `${tlsListener(certs)}\nrequire_certificate true\nuse_identity_as_username true`
      })
      const url = `mqtts://localhost:${broker.port}`
      const ok = yield* runCli([
        "pub", "--url", url, "--cafile", certs.ca.certFile, "--cert", certs.client.certFile, "--key", certs.client.keyFile,
        "-i", "mtls-pub", "-t", "mtls/t", "-m", "hi"
      ])
      assert.strictEqual(ok.code, 0, ok.stderr)
      yield* awaitLog(broker, (l) => l.includes("mtls-pub") && l.includes("u'alice'"))
      const refused = yield* runCli([
        "pub", "--url", url, "--cafile", certs.ca.certFile, "--cert", certs.otherClient.certFile, "--key", certs.otherClient.keyFile,
        "--connect-timeout", "1", "-t", "mtls/t", "-m", "hi"
      ])
      assert.strictEqual(refused.code, 1, refused.stderr)
      assert.include(refused.stderr, "could not connect")
      assert.notInclude(refused.stderr + refused.stdout, certs.otherClient.key.slice(40, 80))
    }), 60_000)

  it.live("untrusted CA: exit 1 with the TLS reason; --insecure connects anyway (warning on stderr only)", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start({ extraConfig: tlsListener(certs) })
      const target = ["-H", "localhost", "-p", String(broker.port), "--connect-timeout", "1", "-t", "tls/t"]
      const untrusted = yield* runCli(["pub", ...target, "--cafile", certs.otherCa.certFile, "-m", "x"])
      assert.strictEqual(untrusted.code, 1, untrusted.stderr)
      assert.include(untrusted.stderr, "unknown CA")
      const sub = yield* spawnCli(["sub", ...target, "--insecure", "-i", "insecure-sub", "-C", "1"])
      yield* awaitLog(broker, (l) => l.includes("Sending SUBACK to insecure-sub"))
      const pub = yield* runCli(["pub", ...target, "--insecure", "-m", "anyway"])
      assert.strictEqual(pub.code, 0, pub.stderr)
      const exit = yield* sub.exit()
      assert.strictEqual(exit.code, 0, sub.stderr())
      assert.strictEqual(sub.stdout(), "anyway\n")
      assert.include(sub.stderr(), "verification is disabled")
    }), 60_000)
})

describeMosquitto("aimeqtt CLI usage", () => {
  it.live("--help lists the commands; pub --help and sub --help list their flags", () =>
    Effect.gen(function*() {
      const [top, pub, sub] = yield* Effect.all([runCli(["--help"]), runCli(["pub", "--help"]), runCli(["sub", "-h"])], {
        concurrency: "unbounded"
      })
      assert.strictEqual(top.code, 0, top.stderr)
      assert.include(top.stdout, "pub")
      assert.include(top.stdout, "sub")
      assert.strictEqual(pub.code, 0, pub.stderr)
      for (
        const flag of [
          "--topic, -t",
          "--message, -m",
          "--qos, -q",
          "--retain, -r",
          "--stdin-line, -l",
          "--file, -f",
          "--null-message, -n",
          "--url, -L",
          "--host, -H",
          "--port, -p",
          "--username, -u",
          "--password, -P",
          "--id, -i",
          "--keepalive, -k",
          "--connect-timeout",
          "--cafile",
          "--cert",
          "--key",
          "--insecure",
          "--stdin-file, -s",
          "--repeat",
          "--repeat-delay",
          "--retry",
          "--debug, -d",
          "--disable-clean-session, -c",
          "--will-topic",
          "--will-payload",
          "--will-qos",
          "--will-retain"
        ]
      ) assert.include(pub.stdout, flag)
      assert.strictEqual(sub.code, 0, sub.stderr)
      for (
        const flag of [
          "--topic, -t",
          "--count, -C",
          "--verbose, -V",
          "--json",
          "--qos, -q",
          "--no-eol, -N",
          "--no-retained, -R",
          "--timeout, -W",
          "--format, -F",
          "--unsubscribe, -U",
          "--debug, -d",
          "--disable-clean-session, -c",
          "--retry",
          "--will-topic"
        ]
      ) assert.include(sub.stdout, flag)
    }), 60_000)

  it.live("--version prints the package version", () =>
    Effect.gen(function*() {
      const run = yield* runCli(["--version"])
      assert.strictEqual(run.code, 0, run.stderr)
      const version = (JSON.parse(Fs.readFileSync(packageJson, "utf8")) as { version: string }).version
      assert.strictEqual(VERSION, version)
      assert.include(run.stdout, version)
    }), 60_000)

  it.live("usage errors exit 2: unknown flag, missing topic, no or two message sources, password without user, CONNECT strings, URL user info, -h/-v habits, URL without scheme or with a query", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["pub", "-t", "a", "-m", "x", "--bogus"], "--bogus"],
        [["pub", "-m", "x"], "--topic"],
        [["pub", "-t", "a"], "exactly one message source"],
        [["pub", "-t", "a", "-m", "x", "-n"], "exactly one message source"],
        [["pub", "-t", "a", "-m", "x", "-P", "pw"], "needs a username"],
        [["sub", "-t", "a", "-C", "0"], "invalid count"],
        [["pub", "--url", "http://x", "-t", "a", "-m", "x"], "unsupported URL scheme"],
        [["pub", "--url", "mqtt://x", "--insecure", "-t", "a", "-m", "x"], "TLS flags need a TLS URL"],
        [["pub", "--url", "mqtt://x", "-p", "1", "-t", "a", "-m", "x"], "cannot be combined"],
        // strings of CONNECT [MQTT-1.5.3]: checked before connecting, the reason names the field, not the value
        [["pub", "-i", "i".repeat(65536), "-t", "a", "-m", "x"], "--id is longer than 65535 bytes in UTF-8 [MQTT-1.5.3]"],
        [["pub", "--url", "mqtt://a%00b@127.0.0.1:1", "-t", "a", "-m", "x"], "the URL's user name contains the null character U+0000 [MQTT-1.5.3-2]"],
        [["pub", "--url", "mqtt://%E0%A4%A@127.0.0.1:1", "-t", "a", "-m", "x"], "the broker URL's user name is not valid percent-encoded UTF-8"],
        [["pub", "--url", "mqtt://u:%ED%A0%80@127.0.0.1:1", "-t", "a", "-m", "x"], "the broker URL's password is not valid percent-encoded UTF-8"],
        [["pub", "--url", "mqtt://u:pw-Zq9@host:99999", "-t", "a", "-m", "x"], "invalid broker URL \"mqtt://***@host:99999\": port 99999 is out of range"],
        [["pub", "--url", "user:S3cret-pw@127.0.0.1:1883", "-t", "a", "-m", "x"], "did you mean \"mqtt://***@127.0.0.1:1883\"?"],
        // mosquitto habits that used to print the help or the version and exit 0 without publishing (issue 12, item 7)
        [["pub", "-h", "127.0.0.1", "-t", "x", "-m", "y"], "-h is --help here: give the broker host with -H or --host"],
        [["sub", "-t", "a", "-v"], "-v is --version here: print \"topic payload\" with -V or --verbose"],
        [["pub", "--url", "127.0.0.1:1883", "-t", "a", "-m", "x"], "did you mean \"mqtt://127.0.0.1:1883\"?"],
        [["pub", "--url", "mqtt://127.0.0.1:1883?clientId=foo", "-t", "a", "-m", "x"], "is not read for mqtt://"],
        // the will, -c, --repeat, -W, -F, -U
        [["pub", "-t", "a", "-m", "x", "--will-payload", "bye"], "--will-payload needs --will-topic"],
        [["sub", "-t", "a", "--will-qos", "1"], "--will-qos needs --will-topic"],
        [["sub", "-t", "a", "--will-retain"], "--will-retain needs --will-topic"],
        [["pub", "-t", "a", "-m", "x", "--will-topic", "w/+"], "invalid --will-topic \"w/+\""],
        [["pub", "-t", "a", "-m", "x", "--will-topic", "w", "--will-qos", "3"], "--will-qos"],
        [["sub", "-t", "a", "-c"], "--disable-clean-session (-c) needs a client id (--id/-i)"],
        [["pub", "-t", "a", "-m", "x", "--repeat", "0"], "invalid --repeat 0"],
        [["pub", "-t", "a", "-m", "x", "--repeat", "2", "--repeat-delay", "-1"], "invalid --repeat-delay -1"],
        [["pub", "-t", "a", "-l", "--repeat", "2"], "--repeat needs a single message"],
        [["sub", "-t", "a", "-W", "0"], "invalid --timeout (-W) 0"],
        [["sub", "-t", "a", "-F", "%z"], "-F: unsupported format specifier '%z'"],
        [["sub", "-t", "a", "-F", "%10t"], "-F: unsupported format specifier '%1'"],
        [["sub", "-t", "a", "-F", "abc%"], "-F: incomplete format specifier"],
        [["sub", "-t", "a", "-F", "\\q"], "-F: unsupported escape '\\q'"],
        [["sub", "-t", "a", "-F", "@Y"], "-F: unsupported time specifier '@Y'"],
        [["sub", "-t", "a", "-F", "%t", "--json"], "--format (-F) and --json"],
        [["sub", "-C", "1"], "give a topic filter to subscribe to: --topic (-t)"],
        [["sub", "-t", "a", "-U", "b/#/c"], "invalid topic \"b/#/c\""]
      ]
      // In process (`main` with a test console): every case fails before connecting, and ~40 processes of
      // ~1 s of start-up each cost most of this file's time. One case also runs as a process below, so the
      // binary's exit code is checked end to end.
      const runs = yield* Effect.forEach(cases, ([args]) => runInProcess(args))
      const [first] = cases
      if (first !== undefined) {
        const process = yield* runCli(first[0], {}, 60_000)
        assert.strictEqual(process.code, 2, process.stderr)
        assert.include(process.stderr, first[1])
      }
      cases.forEach(([args, expected], i) => {
        const run = runs[i]
        if (run === undefined) return assert.fail("missing run")
        const label = args.join(" ").slice(0, 120) // the --id case is 65536 characters long
        assert.strictEqual(run.code, 2, `${label}: ${run.stderr.slice(0, 500)}`)
        assert.include(run.stderr, expected, label)
        assert.notInclude(run.stderr, "pw-Zq9")
        assert.notInclude(run.stderr, "S3cret-pw")
      })
    }), 120_000)
})
