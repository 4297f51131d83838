/**
 * Throw-away certificates for TLS tests, made with the `openssl` CLI in a temp dir:
 * a CA, a server certificate for `localhost`/`127.0.0.1` (SAN `DNS:localhost,IP:127.0.0.1`), a client
 * certificate (CN `alice`, for mutual TLS), a second unrelated CA ("wrong CA"), a server certificate
 * that names another host (`wrong.example`) and an expired server certificate (valid in January 2020,
 * issued with `openssl ca -startdate/-enddate`).
 *
 * Files are mode 0644 in a 0777 dir: mosquitto, running as root, drops to user `mosquitto` before it
 * reads its key files. The dir is removed when the scope closes.
 */
import { Effect, type Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { BrokerError, findExecutable, scopedTempDir } from "./internal.ts"

/** Absolute path of `openssl`, or `undefined` when it is not installed. */
export const opensslBinary: string | undefined = findExecutable("openssl")

/** A certificate with its key, as file paths and PEM text. */
export interface CertificateFiles {
  readonly certFile: string
  readonly keyFile: string
  /** PEM text of the certificate. */
  readonly cert: string
  /** PEM text of the private key. */
  readonly key: string
}

/** Everything {@link Certificates.make} generates. */
export interface CertificateSet {
  readonly dir: string
  /** The trusted test CA (its `cert`/`certFile` go into `cafile` and `tls.ca`). */
  readonly ca: CertificateFiles
  /** Server certificate signed by `ca`, SAN `DNS:localhost,IP:127.0.0.1`. */
  readonly server: CertificateFiles
  /** Client certificate signed by `ca`, CN `alice` (the user name with `use_identity_as_username`). */
  readonly client: CertificateFiles
  /** A second CA that signed nothing the broker uses: trusting only it must fail with "unknown CA". */
  readonly otherCa: CertificateFiles
  /** Client certificate signed by `otherCa` (a broker trusting `ca` must refuse it). */
  readonly otherClient: CertificateFiles
  /** Server certificate signed by `ca` for `DNS:wrong.example` only (hostname mismatch on 127.0.0.1/localhost). */
  readonly wrongHost: CertificateFiles
  /** Server certificate signed by `ca`, SAN localhost/127.0.0.1, valid 2020-01-01..2020-01-02 only. */
  readonly expired: CertificateFiles
}

const run = (dir: string, args: ReadonlyArray<string>): Effect.Effect<void, BrokerError> =>
  Effect.suspend(() => {
    if (opensslBinary === undefined) {
      return Effect.fail(new BrokerError({ message: "openssl is required for the TLS tests (apt-get install -y openssl)" }))
    }
    const result = ChildProcess.spawnSync(opensslBinary, [...args], { cwd: dir, encoding: "utf8", timeout: 20_000 })
    return result.status === 0
      ? Effect.void
      : Effect.fail(
        new BrokerError({
          message: `openssl ${args.slice(0, 2).join(" ")} failed (${String(result.status)}): ${result.stderr}`,
          exitCode: result.status ?? -1
        })
      )
  })

const read = (dir: string, name: string): CertificateFiles => {
  const certFile = Path.join(dir, `${name}.crt`)
  const keyFile = Path.join(dir, `${name}.key`)
  for (const file of [certFile, keyFile]) Fs.chmodSync(file, 0o644)
  return { certFile, keyFile, cert: Fs.readFileSync(certFile, "utf8"), key: Fs.readFileSync(keyFile, "utf8") }
}

const newKey = (dir: string, name: string) => run(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`])

const makeCa = (dir: string, name: string, cn: string) =>
  Effect.gen(function*() {
    yield* newKey(dir, name)
    yield* run(dir, [
      "req", "-x509", "-new", "-key", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${cn}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
    ])
  })

/** Key + CSR + certificate signed by `ca`, with the given extensions (an `-extfile`). */
const makeLeaf = (dir: string, name: string, ca: string, cn: string, extensions: string) =>
  Effect.gen(function*() {
    yield* newKey(dir, name)
    yield* run(dir, ["req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`])
    Fs.writeFileSync(Path.join(dir, `${name}.ext`), extensions)
    yield* run(dir, [
      "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial",
      "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`
    ])
  })

const serverExt = (san: string) => `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`
const clientExt = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"

/** `openssl x509` cannot back-date; `openssl ca` can (`-startdate`/`-enddate`), with a tiny CA database. */
const makeExpired = (dir: string) =>
  Effect.gen(function*() {
    yield* newKey(dir, "expired")
    yield* run(dir, ["req", "-new", "-key", "expired.key", "-out", "expired.csr", "-subj", "/CN=localhost"])
    Fs.writeFileSync(Path.join(dir, "index.txt"), "")
    Fs.writeFileSync(Path.join(dir, "ca-serial"), "1000\n")
    Fs.writeFileSync(
      Path.join(dir, "ca.cnf"),
      [
        "[ca]",
        "default_ca = test",
        "[test]",
        `dir = ${dir}`,
        "database = $dir/index.txt",
        "serial = $dir/ca-serial",
        "new_certs_dir = $dir",
        "default_md = sha256",
        "policy = anything",
        "copy_extensions = none",
        "x509_extensions = server",
        "unique_subject = no",
        "[anything]",
        "commonName = supplied",
        "[server]",
        "basicConstraints = CA:FALSE",
        "keyUsage = digitalSignature",
        "extendedKeyUsage = serverAuth",
        "subjectAltName = DNS:localhost,IP:127.0.0.1",
        ""
      ].join("\n")
    )
    yield* run(dir, [
      "ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "expired.csr",
      "-out", "expired.crt", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"
    ])
  })

/** Generates throw-away certificates. */
export const Certificates = {
  /** Creates the {@link CertificateSet} in a new temp dir (removed on scope close); fails when openssl is missing. */
  make: (): Effect.Effect<CertificateSet, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir("aimeqtt-certs-", "certificate", 0o777)
      yield* makeCa(dir, "ca", "aimeqtt test CA")
      yield* makeCa(dir, "other-ca", "aimeqtt other CA")
      yield* makeLeaf(dir, "server", "ca", "localhost", serverExt("DNS:localhost,IP:127.0.0.1"))
      yield* makeLeaf(dir, "client", "ca", "alice", clientExt)
      yield* makeLeaf(dir, "other-client", "other-ca", "mallory", clientExt)
      yield* makeLeaf(dir, "wrong-host", "ca", "wrong.example", serverExt("DNS:wrong.example"))
      yield* makeExpired(dir)
      return {
        dir,
        ca: read(dir, "ca"),
        server: read(dir, "server"),
        client: read(dir, "client"),
        otherCa: read(dir, "other-ca"),
        otherClient: read(dir, "other-client"),
        wrongHost: read(dir, "wrong-host"),
        expired: read(dir, "expired")
      }
    })
}
