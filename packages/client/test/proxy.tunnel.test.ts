/**
 * The proxy tunnel (src/transports/ProxyTunnel.ts) on its own, through real proxies started by the tests:
 * tinyproxy (HTTP CONNECT) and microsocks (SOCKS5), to a small echo server. Also the `proxy` option's parser (ProxyUrl.ts).
 */
import { ProxyError } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import type * as Net from "node:net"
import { tunnel } from "../src/transports/ProxyTunnel.ts"
import { describeProxy, parseProxy, type ProxyEndpoint, type ProxyOption } from "../src/transports/ProxyUrl.ts"
import { describeProxies, freePort, HttpProxy, SocksProxy } from "./brokers/index.ts"
import { listen } from "./brokers/internal.ts"

const SECRET = "s3cr:et/pw"
const ENCODED = encodeURIComponent(SECRET)
/** tinyproxy's config takes a plain word as the BasicAuth password. */
const HTTP_SECRET = "s3cretPW9"

/** A TCP server on 127.0.0.1 that greets ("hello\n") and then echoes. */
const echoServer = listen("echo", (socket) => {
  socket.on("error", () => undefined)
  socket.write("hello\n")
  socket.pipe(socket)
})

/** Writes `text` into the tunnel and reads until the greeting and the echo came back. */
const exchange = (socket: Net.Socket, text: string) =>
  Effect.callback<string>((resume) => {
    let got = ""
    const expected = `hello\n${text}`
    socket.on("data", (chunk: Buffer) => {
      got += chunk.toString("utf8")
      if (got.length >= expected.length) resume(Effect.succeed(got))
    })
    socket.resume()
    socket.write(text)
  }).pipe(Effect.timeout("5 seconds"))

const proxyOf = (option: ProxyOption) => parseProxy(option)

/** The ProxyError of a failed tunnel; asserts the password appears nowhere in it. */
const tunnelFailure = (proxy: ProxyEndpoint, target: { host: string; port: number }) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(tunnel(proxy, target))
    assert.instanceOf(error, ProxyError)
    const all = `${error.message} ${JSON.stringify(error)} ${String(error)}`
    for (const secret of [SECRET, ENCODED, HTTP_SECRET]) assert.notInclude(all, secret)
    return error
  })

describe("parseProxy", () => {
  it.effect("schemes, default ports, credentials (from the URL, or separate and Redacted)", () =>
    Effect.gen(function*() {
      const http = yield* parseProxy("http://alice:pw%40x@proxy.example")
      assert.strictEqual(http.protocol, "http")
      assert.strictEqual(http.port, 80)
      assert.strictEqual(http.username, "alice")
      assert.strictEqual(http.password === undefined ? undefined : Redacted.value(http.password), "pw@x")
      assert.strictEqual(describeProxy(http), "http://alice@proxy.example:80")
      const socks = yield* parseProxy(Redacted.make("socks5h://[::1]"))
      assert.deepStrictEqual([socks.protocol, socks.host, socks.port], ["socks5h", "::1", 1080])
      assert.strictEqual(describeProxy(socks), "socks5h://[::1]:1080")
      const separate = yield* parseProxy({ url: "socks5://127.0.0.1:9050", username: "bob", password: Redacted.make("pw") })
      assert.deepStrictEqual([separate.protocol, separate.port, separate.username], ["socks5", 9050, "bob"])
      assert.strictEqual((yield* parseProxy("socks4a://h:1")).protocol, "socks4a")
    }))

  it.effect("bad proxies fail with InvalidOptions naming the option, never showing the password", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[string | Parameters<typeof parseProxy>[0], string]> = [
        ["", "empty"],
        [`proxy.example:3128`, "unsupported proxy scheme"],
        [`http://u:${SECRET}@proxy.example:3128`, "is not a URL"],
        [`https://u:${ENCODED}@proxy.example`, "https:// proxies are not supported"],
        [`http://u:${ENCODED}@proxy.example/path`, "no path"],
        [`http://:${ENCODED}@proxy.example:3128`, "needs a user name"],
        [`socks4://u:${ENCODED}@h:1080`, "SOCKS4 has a user id but no password"],
        [`socks5://${"u".repeat(256)}:x@h`, "1..255 bytes"],
        [{ url: `http://u:${ENCODED}@h:1`, username: "v" }, "give them once"],
        ["http://h:0", "1..65535"]
      ]
      for (const [input, expected] of cases) {
        const error = yield* Effect.flip(parseProxy(input))
        assert.strictEqual(error._tag, "InvalidOptions")
        assert.include(error.message, "proxy")
        assert.include(error.message, expected)
        assert.notInclude(error.message, SECRET)
        assert.notInclude(error.message, ENCODED)
      }
    }))
})

describeProxies("tunnel through tinyproxy (HTTP CONNECT)", () => {
  it.live("opens a tunnel to the target, and the proxy logs the CONNECT", () =>
    Effect.gen(function*() {
      const target = yield* echoServer
      const server = yield* HttpProxy.start()
      const socket = yield* tunnel(yield* proxyOf(server.url), { host: "127.0.0.1", port: target.port })
      assert.strictEqual(yield* exchange(socket, "ping"), "hello\nping")
      yield* server.waitForLog(new RegExp(`CONNECT 127\\.0\\.0\\.1:${target.port} `))
    }))

  it.live("Basic credentials: right ones tunnel; none (407) or wrong ones fail with reason authentication", () =>
    Effect.gen(function*() {
      const target = yield* echoServer
      const server = yield* HttpProxy.start({ username: "alice", password: HTTP_SECRET })
      const good = yield* tunnel(yield* proxyOf(server.urlWith("alice", HTTP_SECRET)), { host: "127.0.0.1", port: target.port })
      assert.strictEqual(yield* exchange(good, "x"), "hello\nx")
      const none = yield* tunnelFailure(yield* proxyOf(server.url), { host: "127.0.0.1", port: target.port })
      assert.strictEqual(none.reason, "authentication")
      assert.strictEqual(none.status, 407)
      assert.include(none.message, `proxy http://127.0.0.1:${server.port}: refused the tunnel to 127.0.0.1:${target.port}: 407`)
      assert.isFalse(none.isRetryable)
      const wrong = yield* tunnelFailure(
        yield* proxyOf({ url: server.url, username: "alice", password: Redacted.make(`${HTTP_SECRET}x`) }),
        { host: "127.0.0.1", port: target.port }
      )
      assert.strictEqual(wrong.reason, "authentication")
      assert.include(wrong.message, `http://alice@127.0.0.1:${server.port}`)
    }))

  it.live("a port the proxy does not allow (403) fails with reason refused; a dead target with broker-unreachable", () =>
    Effect.gen(function*() {
      const target = yield* echoServer
      const server = yield* HttpProxy.start({ connectPorts: [443] })
      const refused = yield* tunnelFailure(yield* proxyOf(server.url), { host: "127.0.0.1", port: target.port })
      assert.strictEqual(refused.reason, "refused")
      assert.strictEqual(refused.status, 403)
      const open = yield* HttpProxy.start()
      const dead = yield* tunnelFailure(yield* proxyOf(open.url), { host: "127.0.0.1", port: yield* freePort })
      assert.strictEqual(dead.reason, "broker-unreachable")
      assert.isTrue(dead.isRetryable)
    }))

  it.live("no proxy listening fails with reason unreachable", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* tunnelFailure(yield* proxyOf(`http://alice:${ENCODED}@127.0.0.1:${port}`), { host: "127.0.0.1", port: 1883 })
      assert.strictEqual(error.reason, "unreachable")
      assert.include(error.message, "ECONNREFUSED")
      assert.include(error.message, `proxy http://alice@127.0.0.1:${port}: cannot connect to the proxy`)
    }))
})

describeProxies("tunnel through microsocks (SOCKS5)", () => {
  it.live("socks5:// resolves the target locally, socks5h:// lets the proxy resolve it", () =>
    Effect.gen(function*() {
      const target = yield* echoServer
      const server = yield* SocksProxy.start()
      const local = yield* tunnel(yield* proxyOf(server.url), { host: "localhost", port: target.port })
      assert.strictEqual(yield* exchange(local, "a"), "hello\na")
      yield* server.waitForLog(new RegExp(`connected to 127\\.0\\.0\\.1:${target.port}`))
      const remote = yield* tunnel(yield* proxyOf(server.url.replace("socks5:", "socks5h:")), { host: "localhost", port: target.port })
      assert.strictEqual(yield* exchange(remote, "b"), "hello\nb")
      yield* server.waitForLog(new RegExp(`connected to localhost:${target.port}`))
    }))

  it.live("user name / password: right ones tunnel; wrong or missing ones fail with reason authentication", () =>
    Effect.gen(function*() {
      const target = yield* echoServer
      const server = yield* SocksProxy.start({ username: "alice", password: SECRET })
      const good = yield* tunnel(yield* proxyOf(server.urlWith("alice", SECRET)), { host: "127.0.0.1", port: target.port })
      assert.strictEqual(yield* exchange(good, "y"), "hello\ny")
      const wrong = yield* tunnelFailure(yield* proxyOf(server.urlWith("alice", `${SECRET}x`)), { host: "127.0.0.1", port: target.port })
      assert.strictEqual(wrong.reason, "authentication")
      assert.include(wrong.message, "rejected the user name or password")
      assert.include(wrong.message, `socks5://alice@127.0.0.1:${server.port}`)
      const none = yield* tunnelFailure(yield* proxyOf(server.url), { host: "127.0.0.1", port: target.port })
      assert.strictEqual(none.reason, "authentication")
      assert.include(none.message, "requires authentication")
    }))

  it.live("a dead target fails with reason broker-unreachable; no proxy with unreachable", () =>
    Effect.gen(function*() {
      const server = yield* SocksProxy.start()
      const dead = yield* tunnelFailure(yield* proxyOf(server.url), { host: "127.0.0.1", port: yield* freePort })
      assert.strictEqual(dead.reason, "broker-unreachable")
      assert.include(dead.message, "ConnectionRefused")
      const none = yield* tunnelFailure(yield* proxyOf(`socks5://127.0.0.1:${yield* freePort}`), { host: "127.0.0.1", port: 1883 })
      assert.strictEqual(none.reason, "unreachable")
    }))
})
