/**
 * What went wrong in a TLS connection, from Node's (OpenSSL's) error codes: the broker's certificate
 * (RFC 5280 §6 path validation, RFC 6125 host names), an alert from the broker (no common protocol
 * version, cipher or ALPN protocol), or settings OpenSSL refused (a key that does not decrypt with
 * `passphrase`). Shared by every secure transport, in Node and in browsers (which report no codes).
 *
 * @since 0.4.0
 */
import type { Socket } from "effect/socket"
import { TlsError, type TlsFailure } from "../errors.ts"
import type { Endpoint } from "../Options.ts"

// Node's (OpenSSL's X509_V_ERR_*) verification codes, grouped (RFC 5280 §6: path validation;
// RFC 6125: service identity).
const failures: Readonly<Record<string, Exclude<TlsFailure, "other">>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unknown-ca",
  UNABLE_TO_GET_ISSUER_CERT: "unknown-ca",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unknown-ca",
  SELF_SIGNED_CERT_IN_CHAIN: "unknown-ca",
  DEPTH_ZERO_SELF_SIGNED_CERT: "unknown-ca",
  CERT_UNTRUSTED: "unknown-ca",
  CERT_SIGNATURE_FAILURE: "unknown-ca",
  ERR_TLS_CERT_ALTNAME_INVALID: "hostname-mismatch",
  HOSTNAME_MISMATCH: "hostname-mismatch",
  IP_ADDRESS_MISMATCH: "hostname-mismatch",
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not-yet-valid"
}

const messages: Readonly<Record<Exclude<TlsFailure, "other">, (endpoint: Endpoint) => string>> = {
  "unknown-ca": () => "TLS: the broker's certificate is not signed by a trusted CA (unknown CA); pass the CA as tls.ca",
  "hostname-mismatch": (endpoint) =>
    `TLS: the broker's certificate is not valid for ${JSON.stringify(endpoint.tls?.servername ?? endpoint.host)} (hostname mismatch)`,
  "expired": () => "TLS: the broker's certificate has expired",
  "not-yet-valid": () => "TLS: the broker's certificate is not valid yet"
}

/** The ALPN protocol AWS IoT Core takes MQTT with a client certificate on port 443 with. */
const AWS_ALPN = "x-amzn-mqtt-ca"

const decryptHint = "TLS: the private key (tls.key or tls.pfx) could not be decrypted: wrong or missing tls.passphrase"

/**
 * Failures of the `other` reason that the `tls` options explain, by OpenSSL's code (Node's `ERR_SSL_` +
 * the OpenSSL reason, `ERR_OSSL_` for settings refused before connecting).
 */
const hints: ReadonlyArray<readonly [RegExp, (endpoint: Endpoint) => string]> = [
  [
    /NO_APPLICATION_PROTOCOL/,
    (endpoint) =>
      `TLS: the broker accepted none of the ALPN protocols offered (tls.alpnProtocols: ${
        endpoint.tls?.alpnProtocols === undefined ? "none" : JSON.stringify(endpoint.tls.alpnProtocols)
      })${endpoint.tls?.alpnProtocols?.includes(AWS_ALPN) === true ? "" : `; AWS IoT Core on port 443 wants ["${AWS_ALPN}"]`}`
  ],
  [/BAD_DECRYPT|MAC_VERIFY_FAILURE|BAD_PASSWORD_READ|INTERRUPTED_OR_CANCELLED/, () => decryptHint],
  // Alerts the broker sends about the client certificate (RFC 8446 §6.2): with TLS 1.3 they come after the
  // client's handshake is over, on the first read; with TLS 1.2 during the handshake.
  [
    /ALERT_CERTIFICATE_REQUIRED/,
    () => "TLS: the broker requires a client certificate: pass it as tls.cert and tls.key (or tls.pfx)"
  ],
  [
    /ALERT_UNKNOWN_CA/,
    () => "TLS: the broker does not trust the client certificate (tls.cert): it is not signed by a CA the broker knows"
  ],
  [
    /ALERT_(BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|ACCESS_DENIED|DECRYPT_ERROR)/,
    () => "TLS: the broker refused the client certificate (tls.cert and tls.key)"
  ],
  [
    /UNSUPPORTED_PROTOCOL|PROTOCOL_VERSION|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW/,
    (endpoint) =>
      `TLS: the broker and the client share no TLS version (tls.minVersion: ${JSON.stringify(endpoint.tls?.minVersion ?? "default")}` +
      `${endpoint.tls?.maxVersion === undefined ? "" : `, tls.maxVersion: ${JSON.stringify(endpoint.tls.maxVersion)}`})`
  ],
  [/NO_CIPHER_MATCH/, () => "TLS: tls.ciphers names no cipher suite this OpenSSL knows"],
  [
    /NO_SHARED_CIPHER|HANDSHAKE_FAILURE/,
    () => "TLS: the broker ended the handshake: no cipher suite both accept (tls.ciphers), or it wants a client certificate (tls.cert)"
  ],
  [/KEY_VALUES_MISMATCH/, () => "TLS: the private key (tls.key) does not belong to the certificate (tls.cert)"]
]

/**
 * Classifies a failed TLS connection by Node's error code; `undefined` when the failure is not a TLS
 * one (e.g. connection refused, timeout).
 *
 * @internal
 */
export const tlsError = (error: Socket.SocketError, endpoint: Endpoint): TlsError | undefined => {
  // Settings refused before dialling (see `settingsError`) are already classified.
  if (error.reason.cause instanceof TlsError) return error.reason.cause
  const cause = errorOf(error.reason.cause)
  const code = codeOf(cause)
  if (cause === undefined || code === undefined) return undefined
  const reason = failures[code]
  if (reason !== undefined) return new TlsError({ reason, message: messages[reason](endpoint), code })
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code.startsWith("ERR_OSSL_") || code.includes("CERT")) {
    const hint = hints.find(([pattern]) => pattern.test(code))
    return new TlsError({
      reason: "other",
      message: hint === undefined ? `TLS handshake failed: ${cause.message} (${code})` : `${hint[1](endpoint)} (${code})`,
      code
    })
  }
  return undefined
}

/** Node's code of an OpenSSL error; for the PKCS#12 reader's plain Errors (no code), OpenSSL's reason named as Node would. */
const codeOf = (cause: Error | undefined): string | undefined => {
  if (cause === undefined) return undefined
  if ("code" in cause && typeof cause.code === "string") return cause.code
  // Node's PKCS#12 reader throws a plain Error when `pfx` does not decrypt with `passphrase`.
  return /mac verify failure/i.test(cause.message) ? "ERR_OSSL_PKCS12_MAC_VERIFY_FAILURE" : undefined
}

/** What each TLS setting must be, for {@link settingsError}. */
const expected: Readonly<Record<TlsSetting, string>> = {
  key: "tls.key is not a private key OpenSSL can read (PEM, e.g. -----BEGIN PRIVATE KEY-----)",
  pfx: "tls.pfx is not a PKCS#12 file OpenSSL can read (the bytes of a .p12/.pfx file)",
  cert: "tls.cert is not a certificate OpenSSL can read (PEM, -----BEGIN CERTIFICATE-----)",
  ciphers: "tls.ciphers names no cipher suite this OpenSSL knows"
}

/** The `tls` settings Node may refuse on their own. @internal */
export type TlsSetting = "key" | "pfx" | "cert" | "ciphers"

/**
 * A TLS setting Node refused before anything was dialled (`tls.createSecureContext` threw), naming the field
 * (`undefined`: the settings only fail together, e.g. a key that does not belong to the certificate). Never
 * retried; the message holds OpenSSL's reason, never the setting's value.
 *
 * @internal
 */
export const settingsError = (field: TlsSetting | undefined, cause: unknown, endpoint: Endpoint): TlsError => {
  const error = errorOf(cause)
  const code = codeOf(error)
  const detail = error === undefined ? String(cause) : error.message
  const hint = code === undefined ? undefined : hints.find(([pattern]) => pattern.test(code))
  // A key or PKCS#12 file that does not decrypt, a key that does not match the certificate: the hints say it best.
  const message = hint !== undefined && (field === undefined || /DECRYPT|MAC_VERIFY|PASSWORD|INTERRUPTED|MISMATCH|CIPHER/.test(code ?? ""))
    ? hint[1](endpoint)
    : field !== undefined
    ? `TLS: ${expected[field]} (${detail})`
    : `TLS: the tls options were refused: ${detail}`
  return new TlsError({ reason: "other", message: code === undefined ? message : `${message} (${code})`, ...(code !== undefined ? { code } : {}) })
}

/** A WebSocket `error` event of the `ws` package carries the underlying Error in `error`. */
const errorOf = (cause: unknown): Error | undefined => {
  if (cause instanceof Error) return cause
  if (typeof cause === "object" && cause !== null && "error" in cause && cause.error instanceof Error) return cause.error
  return undefined
}
