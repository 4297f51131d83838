/**
 * The TLS options cloud brokers need (issue 15): ALPN, encrypted keys with a passphrase, PKCS#12 (`pfx`),
 * `ciphers` and `minVersion`. A `node:tls` front that demands what the test sets up (ALPN
 * `x-amzn-mqtt-ca` as AWS IoT Core on port 443, a client certificate, TLS 1.2 only, one cipher suite) sits
 * in front of a plain mosquitto listener and pipes the bytes through.
 */
import { ConnectError, MqttClient, TlsError } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Redacted, Schedule, type Scope, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { resolveOptions, type TlsOptions } from "../src/Options.ts"
import { BrokerError, type CertificateSet, Certificates, describeMosquitto, Mosquitto, opensslBinary } from "./brokers/index.ts"
import { type FrontOptions, tlsFront } from "./brokers/TlsFront.ts"

const AWS_ALPN = "x-amzn-mqtt-ca"

const client = (options: Parameters<typeof MqttClient.layer>[0]) =>
  Layer.build(
    MqttClient.layer({ connectTimeout: "5 seconds", reconnect: Schedule.spaced("100 millis"), connectRetry: false, ...options })
  ).pipe(Effect.map((context) => Context.get(context, MqttClient)))

/** The test CA's client certificate (CN alice) with its key encrypted under `passphrase` (PKCS#8, AES-256-CBC). */
const encryptedKey = (certs: CertificateSet, passphrase: string): string =>
  Crypto.createPrivateKey(certs.client.key).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }) as string

/** `openssl pkcs12 -export`: the client certificate and key (and the CA) as PKCS#12 bytes encrypted under `passphrase`. */
const pkcs12 = (certs: CertificateSet, passphrase: string): Effect.Effect<Uint8Array, BrokerError> =>
  Effect.suspend(() => {
    if (opensslBinary === undefined) return Effect.fail(new BrokerError({ message: "openssl is required for the TLS tests" }))
    const out = Path.join(certs.dir, "client.p12")
    const result = ChildProcess.spawnSync(
      opensslBinary,
      ["pkcs12", "-export", "-in", certs.client.certFile, "-inkey", certs.client.keyFile, "-certfile", certs.ca.certFile, "-passout", "env:P12_PASS", "-out", out],
      { encoding: "utf8", timeout: 20_000, env: { ...process.env, P12_PASS: passphrase } }
    )
    return result.status === 0
      ? Effect.succeed(new Uint8Array(Fs.readFileSync(out)))
      : Effect.fail(new BrokerError({ message: `openssl pkcs12 -export failed: ${result.stderr}` }))
  })

/** Publishes one message to itself and returns its text: the connection carries MQTT end to end. */
const roundTrip = (mqtt: MqttClient["Service"], topic: string) =>
  Effect.gen(function*() {
    const sub = yield* mqtt.subscription(topic, { qos: 1 })
    const received = yield* sub.messages.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
    yield* mqtt.publish(topic, "through the front", { qos: 1 })
    const messages = yield* Fiber.join(received).pipe(Effect.timeout("5 seconds"))
    return messages[0]?.text
  })

/** The failure of a client that must not connect, with its `TlsError` (if any). */
const refused = (options: Parameters<typeof MqttClient.layer>[0]) =>
  Effect.map(Effect.flip(client(options)), (error) => ({ error, tls: TlsError.find(error) }))

/** Neither the message nor the encoded error shows any of `secrets`. */
const assertNoSecret = (error: unknown, secrets: ReadonlyArray<string>) => {
  const text = `${String(error)} ${JSON.stringify(error)} ${error instanceof Error ? error.message : ""}`
  for (const secret of secrets) assert.notInclude(text, secret)
}

const setup = (front: FrontOptions = {}): Effect.Effect<
  { readonly certs: CertificateSet; readonly front: Effect.Success<ReturnType<typeof tlsFront>>; readonly url: string },
  BrokerError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const certs = yield* Certificates.make()
    const broker = yield* Mosquitto.start()
    const tls = yield* tlsFront(certs, broker.port, front)
    return { certs, front: tls, url: `mqtts://localhost:${tls.port}` }
  })

describe("TLS options: validation", () => {
  const cases: ReadonlyArray<readonly [Parameters<typeof resolveOptions>[0]["tls"], string]> = [
    [{ alpnProtocols: [] }, "tls.alpnProtocols must be a non-empty array"],
    [{ alpnProtocols: [""] }, "tls.alpnProtocols must be a non-empty array"],
    [{ alpnProtocols: ["x".repeat(256)] }, "1..255 bytes"],
    [{ alpnProtocols: "x-amzn-mqtt-ca" as never }, "tls.alpnProtocols"],
    [{ minVersion: "TLSv1.4" as never }, 'tls.minVersion must be one of "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", got "TLSv1.4"'],
    [{ maxVersion: "TLSv1.4" as never }, 'tls.maxVersion must be one of "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", got "TLSv1.4"'],
    [{ minVersion: "TLSv1.3", maxVersion: "TLSv1.2" }, 'tls.minVersion ("TLSv1.3") is above tls.maxVersion ("TLSv1.2")'],
    [{ ciphers: " " }, "tls.ciphers must be a non-empty OpenSSL cipher list"],
    [{ passphrase: "plain-Zq9-secret" as never }, "tls.passphrase must be Redacted"],
    [{ pfx: new Uint8Array(3) as never }, "tls.pfx must be Redacted"],
    [{ pfx: Redacted.make("not bytes") as never }, "tls.pfx must be the bytes of a PKCS#12 file"],
    [{ key: "-----BEGIN PRIVATE KEY-----" as never }, "tls.key must be Redacted"]
  ]
  it.effect("an invalid TLS option fails with InvalidOptions naming the field, never its value", () =>
    Effect.gen(function*() {
      for (const [tls, expected] of cases) {
        const error = yield* Effect.flip(resolveOptions({ url: "mqtts://localhost", ...(tls !== undefined ? { tls } : {}) }))
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.include(error.message, expected)
        assert.notInclude(error.message, "plain-Zq9-secret")
      }
      // valid ones pass, and reach the endpoints of TLS URLs only
      const tls = { alpnProtocols: [AWS_ALPN], minVersion: "TLSv1.3", ciphers: "TLS_AES_128_GCM_SHA256", passphrase: Redacted.make("p") } as const
      const resolved = yield* resolveOptions({ urls: ["mqtts://a", "mqtt://b", "wss://c/mqtt"], tls })
      assert.deepStrictEqual(resolved.endpoints.map((e) => e.tls !== undefined), [true, false, true])
    }))
})

describe("TLS options Node refuses", () => {
  // Refused before anything is dialled (port 1 is never reached): a TlsError naming the field, not retried, even
  // with connectRetry and a long connectTimeout.
  const cases: ReadonlyArray<readonly [string, TlsOptions, string]> = [
    ["pfx of 3 bytes", { pfx: Redacted.make(new Uint8Array([1, 2, 3])) }, "tls.pfx is not a PKCS#12 file"],
    ["pfx of text", { pfx: Redacted.make(new TextEncoder().encode("not a p12 file")), passphrase: Redacted.make("x") }, "tls.pfx is not a PKCS#12 file"],
    ["key that is not PEM", { key: Redacted.make("not-a-key-Zq9") }, "tls.key is not a private key"],
    ["key bytes that are not PEM", { key: Redacted.make(new Uint8Array([1, 2, 3])) }, "tls.key is not a private key"],
    ["cert that is not PEM", { cert: "not a certificate" }, "tls.cert is not a certificate"],
    ["ciphers matching nothing", { ciphers: "NOT-A-CIPHER" }, "tls.ciphers names no cipher suite"]
  ]
  for (const [name, tls, expected] of cases) {
    it.live(`${name}: TlsError naming the field, not retried`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Layer.build(MqttClient.layer({ url: "mqtts://127.0.0.1:1", connectTimeout: "20 seconds", connectRetry: true, tls }))
        )
        assert.instanceOf(error, ConnectError)
        assert.include(error.message, "could not connect to mqtts://127.0.0.1:1: TLS: ")
        assert.include(error.message, expected)
        assert.strictEqual(TlsError.find(error)?.reason, "other")
        assert.isFalse(error.isRetryable)
        assert.notInclude(error.message, "not-a-key-Zq9")
      }).pipe(Effect.scoped))
  }
})

describeMosquitto("TLS options against a TLS front before mosquitto", () => {
  it.live("alpnProtocols: the front that requires x-amzn-mqtt-ca lets the client in with it, refuses it without (TlsError) or with another", () =>
    Effect.gen(function*() {
      const { certs, front, url } = yield* setup({ alpn: AWS_ALPN })
      const mqtt = yield* client({ url, tls: { ca: certs.ca.cert, alpnProtocols: [AWS_ALPN] } })
      assert.strictEqual(yield* roundTrip(mqtt, "alpn/t"), "through the front")
      assert.strictEqual(front.accepted[0]?.alpn, AWS_ALPN)
      // another protocol: the handshake fails (no_application_protocol), a TlsError that names the option
      const other = yield* refused({ url, tls: { ca: certs.ca.cert, alpnProtocols: ["mqtt"] } })
      assert.instanceOf(other.error, ConnectError)
      assert.strictEqual(other.tls?.reason, "other", other.error.message)
      assert.include(other.error.message, 'the broker accepted none of the ALPN protocols offered (tls.alpnProtocols: ["mqtt"]); AWS IoT Core on port 443 wants ["x-amzn-mqtt-ca"]')
      assert.isFalse(other.error.isRetryable)
      // none offered: the front closes the connection, a ConnectError
      const none = yield* refused({ url, tls: { ca: certs.ca.cert } })
      assert.instanceOf(none.error, ConnectError)
      // a front that wants another protocol than the AWS one offered: no AWS hint (it was offered)
      const { certs: certs2, url: url2 } = yield* setup({ alpn: "mqtt" })
      const aws = yield* refused({ url: url2, tls: { ca: certs2.ca.cert, alpnProtocols: [AWS_ALPN] } })
      assert.include(aws.error.message, `accepted none of the ALPN protocols offered (tls.alpnProtocols: ["${AWS_ALPN}"])`)
      assert.notInclude(aws.error.message, "AWS IoT Core")
    }))

  it.live("passphrase: an encrypted key works with the right one; a wrong or missing one fails with a TlsError that never shows it", () =>
    Effect.gen(function*() {
      const { certs, front, url } = yield* setup({ clientCertificate: true })
      const key = encryptedKey(certs, "right-Zq9-pass")
      assert.include(key, "ENCRYPTED PRIVATE KEY")
      const base = { ca: certs.ca.cert, cert: certs.client.cert, key: Redacted.make(key) }
      const mqtt = yield* client({ url, tls: { ...base, passphrase: Redacted.make("right-Zq9-pass") } })
      assert.strictEqual(yield* roundTrip(mqtt, "passphrase/t"), "through the front")
      assert.strictEqual(front.accepted[0]?.peer, "alice", "the front saw the client certificate")
      const wrong = yield* refused({ url, tls: { ...base, passphrase: Redacted.make("wrong-Zq9-pass") } })
      assert.instanceOf(wrong.error, ConnectError)
      assert.strictEqual(wrong.tls?.reason, "other", wrong.error.message)
      assert.include(wrong.error.message, "could not be decrypted: wrong or missing tls.passphrase")
      assert.isFalse(wrong.error.isRetryable)
      assertNoSecret(wrong.error, ["wrong-Zq9-pass", "right-Zq9-pass", key.slice(60, 120)])
      const missing = yield* refused({ url, tls: base })
      assert.include(missing.error.message, "tls.passphrase", missing.error.message)
      assert.strictEqual(front.accepted.length, 1, "nothing was dialled with a key that did not decrypt")
    }))

  it.live("pfx: a PKCS#12 bundle with its passphrase is the client certificate; a wrong passphrase fails typed", () =>
    Effect.gen(function*() {
      const { certs, front, url } = yield* setup({ clientCertificate: true })
      const pfx = Redacted.make(yield* pkcs12(certs, "p12-Zq9-pass"))
      const mqtt = yield* client({ url, tls: { ca: certs.ca.cert, pfx, passphrase: Redacted.make("p12-Zq9-pass") } })
      assert.strictEqual(yield* roundTrip(mqtt, "pfx/t"), "through the front")
      assert.strictEqual(front.accepted[0]?.peer, "alice")
      const wrong = yield* refused({ url, tls: { ca: certs.ca.cert, pfx, passphrase: Redacted.make("nope-Zq9-pass") } })
      assert.strictEqual(wrong.tls?.reason, "other", wrong.error.message)
      assert.include(wrong.error.message, "wrong or missing tls.passphrase")
      assert.strictEqual(wrong.tls?.code, "ERR_OSSL_PKCS12_MAC_VERIFY_FAILURE")
      assert.isFalse(wrong.error.isRetryable)
      assertNoSecret(wrong.error, ["nope-Zq9-pass", "p12-Zq9-pass"])
    }))

  it.live("minVersion: TLSv1.3 against a front that stops at TLS 1.2 fails with a TlsError; the default connects with 1.2", () =>
    Effect.gen(function*() {
      const { certs, front, url } = yield* setup({ maxVersion: "TLSv1.2" })
      const mqtt = yield* client({ url, tls: { ca: certs.ca.cert } })
      assert.strictEqual(yield* roundTrip(mqtt, "version/t"), "through the front")
      assert.strictEqual(front.accepted[0]?.protocol, "TLSv1.2")
      const strict = yield* refused({ url, tls: { ca: certs.ca.cert, minVersion: "TLSv1.3" } })
      assert.instanceOf(strict.error, ConnectError)
      assert.strictEqual(strict.tls?.reason, "other", strict.error.message)
      assert.include(strict.error.message, 'share no TLS version (tls.minVersion: "TLSv1.3")')
    }))

  it.live("ciphers: the one suite allowed is the one used; a list the front does not share, or none OpenSSL knows, fails typed", () =>
    Effect.gen(function*() {
      const { certs, front, url } = yield* setup({ maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256" })
      const mqtt = yield* client({ url, tls: { ca: certs.ca.cert, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" } })
      assert.strictEqual(yield* roundTrip(mqtt, "cipher/t"), "through the front")
      assert.strictEqual(front.accepted[0]?.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256")
      const unshared = yield* refused({ url, tls: { ca: certs.ca.cert, ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305" } })
      assert.strictEqual(unshared.tls?.reason, "other", unshared.error.message)
      assert.include(unshared.error.message, "no cipher suite both accept (tls.ciphers)")
      const unknown = yield* refused({ url, tls: { ca: certs.ca.cert, ciphers: "NOT-A-CIPHER" } })
      assert.strictEqual(unknown.tls?.reason, "other", unknown.error.message)
      assert.include(unknown.error.message, "tls.ciphers names no cipher suite")
      assert.strictEqual(front.accepted.length, 1)
    }))
})
