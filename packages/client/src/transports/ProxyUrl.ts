/**
 * The `proxy` option: its forms, its parser and how messages name a proxy (never with its password). Portable
 * (no Node import): `Options` parses the option everywhere, and a browser refuses a proxy when it connects.
 * The tunnel itself is `ProxyTunnel.ts` (Node only).
 *
 * @since 0.4.0
 */
import { Effect, Redacted } from "effect"
import { InvalidOptions } from "../errors.ts"

/**
 * A proxy's protocol, by its URL scheme: `http` (HTTP CONNECT), `socks5` and `socks4` (the client resolves the
 * broker's name and sends its address), `socks5h` and `socks4a` (the proxy resolves the name, which is what
 * networks whose clients cannot resolve outside names need).
 *
 * @since 0.4.0
 * @category options
 */
export type ProxyProtocol = "http" | "socks4" | "socks4a" | "socks5" | "socks5h"

/**
 * The `proxy` option: a URL such as `http://user:password@proxy:3128` or `socks5h://proxy:1080` (also as a
 * `Redacted` string, e.g. read from the environment with `Config.redacted`), or the URL without credentials
 * plus `username` and a `Redacted` `password`. Schemes: `http://` (HTTP CONNECT, default port 80), `socks5://`,
 * `socks5h://`, `socks4://`, `socks4a://` (default port 1080); see {@link ProxyProtocol}.
 *
 * @since 0.4.0
 * @category options
 */
export type ProxyOption =
  | string
  | Redacted.Redacted<string>
  | {
    readonly url: string
    readonly username?: string
    readonly password?: Redacted.Redacted<string>
  }

/**
 * A parsed `proxy` option, as transports get it (`Endpoint.proxy`).
 *
 * @since 0.4.0
 * @category options
 */
export interface ProxyEndpoint {
  readonly protocol: ProxyProtocol
  readonly host: string
  readonly port: number
  readonly username?: string
  readonly password?: Redacted.Redacted<string>
}

const protocols: Readonly<Record<string, ProxyProtocol>> = {
  "http:": "http",
  "socks4:": "socks4",
  "socks4a:": "socks4a",
  "socks5:": "socks5",
  "socks5h:": "socks5h"
}

/** The default ports: HTTP's own (the URL parser drops an explicit `:80`), SOCKS' IANA port. */
const defaultPorts: Readonly<Record<ProxyProtocol, number>> = { http: 80, socks4: 1080, socks4a: 1080, socks5: 1080, socks5h: 1080 }

/** `url` with everything up to its last `@` masked, for messages (an unencoded password may hold `/`, `?` or `@`). */
const masked = (url: string): string => url.replace(/^([^:/?#]*:\/\/).*@/, "$1***@")

const invalid = (message: string) => new InvalidOptions({ message: `invalid option proxy: ${message}` })

const decoded = (encoded: string, what: string): Effect.Effect<string | undefined, InvalidOptions> =>
  encoded === ""
    ? Effect.succeed(undefined)
    : Effect.try({ try: () => decodeURIComponent(encoded), catch: () => invalid(`the URL's ${what} is not valid percent-encoded UTF-8`) })

const utf8Length = (text: string): number => new TextEncoder().encode(text).length

/**
 * Parses and checks the `proxy` option. Fails with `InvalidOptions` naming the field (never showing a
 * password): an unparsable URL, another scheme, a path or query, credentials given twice, a SOCKS5 user name
 * or password of more than 255 bytes (RFC 1929), a password for SOCKS4 (which has a user id only).
 *
 * @internal
 */
export const parseProxy = (option: ProxyOption): Effect.Effect<ProxyEndpoint, InvalidOptions> =>
  Effect.gen(function*() {
    const text = typeof option === "string" ? option : Redacted.isRedacted(option) ? Redacted.value(option) : option.url
    if (typeof text !== "string" || text.trim() === "") {
      return yield* invalid("the proxy URL is empty (e.g. http://proxy.example:3128 or socks5h://proxy.example:1080)")
    }
    if (!URL.canParse(text)) return yield* invalid(`${JSON.stringify(masked(text))} is not a URL (e.g. http://proxy.example:3128)`)
    const url = new URL(text)
    const protocol = protocols[url.protocol]
    if (protocol === undefined) {
      return yield* invalid(
        `unsupported proxy scheme ${JSON.stringify(url.protocol)} (use http://, socks5://, socks5h://, socks4:// or socks4a://; ` +
          "https:// proxies are not supported)"
      )
    }
    if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
      return yield* invalid(`the proxy URL ${JSON.stringify(masked(text))} may have no path, query or fragment`)
    }
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
    if (host === "") return yield* invalid(`the proxy URL ${JSON.stringify(masked(text))} has no host`)
    const port = url.port === "" ? defaultPorts[protocol] : Number(url.port)
    if (port === 0) return yield* invalid("the proxy's port must be in 1..65535")
    const urlUsername = yield* decoded(url.username, "user name")
    const urlPassword = yield* decoded(url.password, "password")
    const separate = typeof option === "object" && !Redacted.isRedacted(option) ? option : undefined
    const separatePassword: unknown = separate?.password
    if (separatePassword !== undefined && !(Redacted.isRedacted(separatePassword) && typeof Redacted.value(separatePassword) === "string")) {
      return yield* invalid("proxy.password must be a Redacted string (Redacted.make(...)), so that it never shows up in logs or errors")
    }
    if (separate?.username !== undefined && typeof separate.username !== "string") return yield* invalid("proxy.username must be a string")
    if (separate !== undefined && (separate.username !== undefined || separate.password !== undefined) && (urlUsername !== undefined || urlPassword !== undefined)) {
      return yield* invalid("credentials are given both in the proxy URL and as username/password; give them once")
    }
    const username = separate?.username ?? urlUsername
    const password = separate?.password ?? (urlPassword === undefined ? undefined : Redacted.make(urlPassword))
    if (password !== undefined && username === undefined) return yield* invalid("a proxy password needs a user name")
    if ((protocol === "socks4" || protocol === "socks4a") && password !== undefined) {
      return yield* invalid("SOCKS4 has a user id but no password; use socks5:// for user name / password authentication")
    }
    if (protocol === "socks5" || protocol === "socks5h") {
      // RFC 1929 §2: each is 1..255 bytes.
      if (username !== undefined && (username === "" || utf8Length(username) > 255)) return yield* invalid("a SOCKS5 user name must be 1..255 bytes (RFC 1929)")
      if (password !== undefined && (Redacted.value(password) === "" || utf8Length(Redacted.value(password)) > 255)) {
        return yield* invalid("a SOCKS5 password must be 1..255 bytes (RFC 1929)")
      }
    }
    if (protocol === "http" && username !== undefined && username.includes(":")) {
      return yield* invalid("an HTTP proxy user name cannot contain ':' (Basic authentication, RFC 7617 §2)")
    }
    return {
      protocol,
      host,
      port,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {})
    }
  })

/** `host:port`, an IPv6 host in brackets. @internal */
export const hostPort = (host: string, port: number): string => `${host.includes(":") ? `[${host}]` : host}:${port}`

/** `http://alice@proxy.example:3128`: the proxy for messages, never with its password. @internal */
export const describeProxy = (proxy: ProxyEndpoint): string =>
  `${proxy.protocol}://${proxy.username !== undefined ? `${encodeURIComponent(proxy.username)}@` : ""}${hostPort(proxy.host, proxy.port)}`
