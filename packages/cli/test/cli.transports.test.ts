/**
 * The CLI's transport flags (issue 15), run in this process (`main` with Node's services and a test
 * console, as `cli.test.ts` does for usage errors): `--unix PATH` (mosquitto_pub's) against mosquitto's
 * `listener 0 PATH`, and `--tls-alpn`, `--tls-version`, `--ciphers` (mosquitto_pub's names) against a TLS
 * front that requires ALPN `x-amzn-mqtt-ca`, placed in front of mosquitto.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import * as TestConsole from "effect/testing/TestConsole"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Certificates, describeMosquitto, Mosquitto } from "../../client/test/brokers/index.ts"
import { tlsFront } from "../../client/test/brokers/TlsFront.ts"
import { main } from "../src/Cli.ts"
import { listener, runInProcess } from "./util.ts"

describe("aimeqtt transport flags: usage", () => {
  it.live("--unix with --url/--host/--port, TLS flags on a plain transport, an unknown --tls-version: exit 2 naming the flag", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["pub", "--unix", "/run/mqtt.sock", "-H", "localhost", "-t", "a", "-m", "x"], "--unix cannot be combined with --url, --host or --port"],
        [["pub", "--unix", "/run/mqtt.sock", "--url", "mqtt://x", "-t", "a", "-m", "x"], "--unix cannot be combined"],
        [["pub", "--unix", "", "-t", "a", "-m", "x"], "--unix needs the path of a socket file"],
        [["pub", "--unix", "/run/mqtt.sock", "--cafile", "ca.pem", "-t", "a", "-m", "x"], "TLS flags need a TLS URL (mqtts:// or wss://), got mqtt+unix://"],
        [["pub", "--url", "mqtt://x", "--tls-alpn", "x-amzn-mqtt-ca", "-t", "a", "-m", "x"], "TLS flags need a TLS URL"],
        [["pub", "--url", "ws://x", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", "-t", "a", "-m", "x"], "TLS flags need a TLS URL"],
        [["pub", "--url", "mqtts://x", "--tls-version", "tlsv1.0", "-t", "a", "-m", "x"], '--tls-version must be tlsv1.3, tlsv1.2 or tlsv1.1, got "tlsv1.0"'],
        [["pub", "--url", "mqtts://x", "--tls-version", "TLSv1.4", "-t", "a", "-m", "x"], '--tls-version must be tlsv1.3, tlsv1.2 or tlsv1.1, got "TLSv1.4"'],
        [["pub", "--url", "mqtts://x", "--tls-alpn", "", "-t", "a", "-m", "x"], "--tls-alpn must be a non-empty array"]
      ]
      for (const [args, expected] of cases) {
        const run = yield* runInProcess(args)
        assert.strictEqual(run.code, 2, `${args.join(" ")}: ${run.stderr}`)
        assert.include(run.stderr, expected, args.join(" "))
        // one line, not the help page; the flags' names, not the library's options
        assert.notInclude(run.stderr, "--ws-header", args.join(" "))
        assert.notInclude(run.stderr, "tls.", args.join(" "))
      }
    }))

  it.live("pub --help lists the new flags", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      yield* main(["pub", "--help"]).pipe(Effect.provide(NodeServices.layer), Effect.exit)
      lines.push(...(yield* TestConsole.logLines).map(String))
      const help = lines.join("\n")
      for (const flag of ["--unix", "--tls-alpn", "--tls-version", "--ciphers"]) assert.include(help, flag)
    }).pipe(Effect.provide(TestConsole.layer)))
})

describeMosquitto("aimeqtt transport flags against mosquitto", () => {
  it.live("pub --unix PATH: through mosquitto's Unix socket (a relative path is the working directory's)", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const made = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-cli-unix-"))
          Fs.chmodSync(made, 0o777)
          return made
        }),
        (made) => Effect.sync(() => Fs.rmSync(made, { recursive: true, force: true }))
      )
      const socket = Path.join(dir, "mqtt.sock")
      const broker = yield* Mosquitto.start({ extraConfig: `listener 0 ${socket}` })
      const sub = yield* listener(broker.url, "cli/unix")
      const run = yield* runInProcess(["pub", "--unix", Path.relative(process.cwd(), socket), "-i", "cli-unix", "-t", "cli/unix", "-m", "over the socket", "-q", "1"])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(yield* sub.next, "over the socket")
      assert.include(broker.logText(), `New client connected from ${socket}:0 as cli-unix`)
    }))

  it.live("--tls-alpn x-amzn-mqtt-ca --tls-version --ciphers: through a front that requires the ALPN; without it, exit 1", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start()
      const front = yield* tlsFront(certs, broker.port, {
        alpn: "x-amzn-mqtt-ca",
        maxVersion: "TLSv1.2",
        ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
      })
      const sub = yield* listener(broker.url, "cli/alpn")
      const target = ["-H", "localhost", "-p", String(front.port), "--cafile", certs.ca.certFile, "-t", "cli/alpn", "--connect-timeout", "3"]
      const run = yield* runInProcess([
        "pub", ...target, "-m", "aws style", "-q", "1",
        // Node's spelling of the version is taken too
        "--tls-alpn", "x-amzn-mqtt-ca", "--tls-version", "TLSv1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"
      ])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(yield* sub.next, "aws style")
      assert.deepStrictEqual(front.accepted.map((a) => [a.alpn, a.protocol, a.cipher]), [["x-amzn-mqtt-ca", "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"]])
      const wrongAlpn = yield* runInProcess(["pub", ...target, "-m", "x", "--tls-alpn", "mqtt"])
      assert.strictEqual(wrongAlpn.code, 1, wrongAlpn.stderr)
      assert.include(wrongAlpn.stderr, 'the broker accepted none of the ALPN protocols offered (--tls-alpn: ["mqtt"])')
      const tooNew = yield* runInProcess(["pub", ...target, "-m", "x", "--tls-alpn", "x-amzn-mqtt-ca", "--tls-version", "tlsv1.3"])
      assert.strictEqual(tooNew.code, 1, tooNew.stderr)
      assert.include(tooNew.stderr, 'share no TLS version (--tls-version: "TLSv1.3")')
      const otherCa = yield* runInProcess(["pub", "-H", "localhost", "-p", String(front.port), "--cafile", certs.otherCa.certFile, "-t", "t", "-m", "x", "--tls-alpn", "x-amzn-mqtt-ca"])
      assert.strictEqual(otherCa.code, 1, otherCa.stderr)
      assert.include(otherCa.stderr, "not signed by a trusted CA (unknown CA); pass the CA as --cafile")
      for (const run of [wrongAlpn, tooNew, otherCa]) assert.notInclude(run.stderr, "tls.")
    }))

  it.live("--key-passphrase (or MQTT_KEY_PASSPHRASE) decrypts an encrypted --key; without it the message names the flag", () =>
    Effect.gen(function*() {
      const certs = yield* Certificates.make()
      const broker = yield* Mosquitto.start()
      const front = yield* tlsFront(certs, broker.port, { clientCertificate: true })
      const keyFile = Path.join(certs.dir, "client.enc.key")
      Fs.writeFileSync(
        keyFile,
        Crypto.createPrivateKey(certs.client.key).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "kp-Zq9-pass" })
      )
      const target = ["-H", "localhost", "-p", String(front.port), "--cafile", certs.ca.certFile, "--cert", certs.client.certFile, "--key", keyFile, "-t", "cli/kp", "--connect-timeout", "3"]
      const missing = yield* runInProcess(["pub", ...target, "-m", "x"])
      assert.strictEqual(missing.code, 1, missing.stderr)
      assert.include(missing.stderr, "wrong or missing --key-passphrase (or MQTT_KEY_PASSPHRASE)")
      const sub = yield* listener(broker.url, "cli/kp")
      const run = yield* runInProcess(["pub", ...target, "-m", "decrypted", "-q", "1", "--key-passphrase", "kp-Zq9-pass"])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(yield* sub.next, "decrypted")
      const wrong = yield* runInProcess(["pub", ...target, "-m", "x", "--key-passphrase", "nope-Zq9-pass"])
      assert.strictEqual(wrong.code, 1, wrong.stderr)
      assert.notInclude(wrong.stderr, "nope-Zq9-pass")
      assert.strictEqual(front.accepted.length, 1)
    }))
})
