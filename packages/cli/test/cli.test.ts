/**
 * The `aimeqtt` binary as a subprocess (Node type stripping on `src/bin.ts`, client from source)
 * against a real mosquitto, with `mosquitto_sub` / `mosquitto_pub` as peers.
 */
import { assert, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
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
import { VERSION } from "../src/Cli.ts"

const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
const packageJson = fileURLToPath(new URL("../package.json", import.meta.url))

/** A running `aimeqtt` process. */
interface Cli {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Waits for the exit (at most `timeoutMs`), failing with the output so far on timeout. */
  readonly exit: (timeoutMs?: number) => Effect.Effect<{ readonly code: number | null; readonly signal: string | null }, Error>
}

interface CliOptions {
  /** Written to stdin, which is then closed. Default: stdin closed at once. */
  readonly stdin?: string
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
      let stdout = ""
      let stderr = ""
      let exited: { code: number | null; signal: string | null } | undefined
      const waiters = new Set<() => void>()
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
      })
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
        stdout: () => stdout,
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
              resume(Effect.fail(new Error(`aimeqtt ${args.join(" ")} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`)))
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
    return { code, signal, stdout: cli.stdout(), stderr: cli.stderr() }
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

  it.live("unreachable broker: exit 1 with \"could not connect\" within the connect timeout", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const started = Date.now()
      const run = yield* runCli(["pub", "-H", "127.0.0.1", "-p", String(port), "--connect-timeout", "2", "-t", "a", "-m", "x"])
      assert.strictEqual(run.code, 1, run.stderr)
      assert.include(run.stderr, "could not connect")
      assert.include(run.stderr, `127.0.0.1:${port}`)
      assert.isBelow(Date.now() - started, 6000)
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
          "--insecure"
        ]
      ) assert.include(pub.stdout, flag)
      assert.strictEqual(sub.code, 0, sub.stderr)
      for (const flag of ["--topic, -t", "--count, -C", "--verbose, -V", "--json", "--qos, -q"]) assert.include(sub.stdout, flag)
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
        [["pub", "--url", "mqtt://u:pw-Zq9@host:99999", "-t", "a", "-m", "x"], "invalid broker URL \"mqtt://***@host:99999\""],
        // mosquitto habits that used to print the help or the version and exit 0 without publishing (issue 12, item 7)
        [["pub", "-h", "127.0.0.1", "-t", "x", "-m", "y"], "-h is --help here: give the broker host with -H or --host"],
        [["sub", "-t", "a", "-v"], "-v is --version here: print \"topic payload\" with -V or --verbose"],
        [["pub", "--url", "127.0.0.1:1883", "-t", "a", "-m", "x"], "did you mean \"mqtt://127.0.0.1:1883\"?"],
        [["pub", "--url", "mqtt://127.0.0.1:1883?clientId=foo", "-t", "a", "-m", "x"], "is not read for mqtt://"]
      ]
      const runs = yield* Effect.forEach(cases, ([args]) => runCli(args), { concurrency: 2 })
      cases.forEach(([args, expected], i) => {
        const run = runs[i]
        if (run === undefined) return assert.fail("missing run")
        const label = args.join(" ").slice(0, 120) // the --id case is 65536 characters long
        assert.strictEqual(run.code, 2, `${label}: ${run.stderr.slice(0, 500)}`)
        assert.include(run.stderr, expected, label)
        assert.notInclude(run.stderr, "pw-Zq9")
      })
    }), 60_000)
})
