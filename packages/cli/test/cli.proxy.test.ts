/**
 * The CLI's `--proxy` (mosquitto's name) and `--ws-header` flags, run in this process: through real proxies
 * (tinyproxy, microsocks) to mosquitto, and through a gate that records the WebSocket handshake.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { describeMosquitto, describeProxies, freePort, HttpProxy, Mosquitto, SocksProxy, WsGate } from "../../client/test/brokers/index.ts"
import { listener, runInProcess } from "./util.ts"

const SECRET = "cliS3cret"

describe("aimeqtt --proxy and --ws-header: usage", () => {
  it.live("a bad proxy URL, a header without a name, or --ws-header on a TCP URL: exit 2, nothing secret printed", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["pub", "--proxy", `ftp://u:${SECRET}@p:21`, "-t", "a", "-m", "x"], "unsupported proxy scheme"],
        [["pub", "--url", "ws://x/mqtt", "--ws-header", `${SECRET}`, "-t", "a", "-m", "x"], "--ws-header takes NAME:VALUE"],
        [["pub", "--url", "mqtt://x", "--ws-header", `x-token: ${SECRET}`, "-t", "a", "-m", "x"], "--ws-header needs a WebSocket URL"]
      ]
      for (const [args, expected] of cases) {
        const run = yield* runInProcess(args)
        assert.strictEqual(run.code, 2, `${args.join(" ")}: ${run.stderr}`)
        assert.include(run.stderr, expected, args.join(" "))
        assert.notInclude(run.stderr, SECRET)
      }
    }))
})

describeMosquitto("aimeqtt --proxy and --ws-header against mosquitto", () => {
  describeProxies("through tinyproxy and microsocks", () => {
    it.live("pub --proxy: through SOCKS5 and through HTTP CONNECT with credentials; a wrong password: exit 1 without it", () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        const socks = yield* SocksProxy.start()
        const http = yield* HttpProxy.start({ username: "alice", password: SECRET })
        const viaSocks = yield* listener(broker.url, "cli/socks")
        const run = yield* runInProcess(["pub", "-p", String(broker.port), "--proxy", socks.url.replace("socks5:", "socks5h:"), "-t", "cli/socks", "-m", "via socks", "-q", "1"])
        assert.strictEqual(run.code, 0, run.stderr)
        assert.strictEqual(yield* viaSocks.next, "via socks")
        yield* socks.waitForLog(new RegExp(`connected to localhost:${broker.port}`))
        const viaHttp = yield* listener(broker.url, "cli/http")
        const run2 = yield* runInProcess(["pub", "-H", "127.0.0.1", "-p", String(broker.port), "--proxy", http.urlWith("alice", SECRET), "-t", "cli/http", "-m", "via http"])
        assert.strictEqual(run2.code, 0, run2.stderr)
        assert.strictEqual(yield* viaHttp.next, "via http")
        const wrong = yield* runInProcess(["pub", "-p", String(broker.port), "--proxy", http.urlWith("alice", `${SECRET}x`), "-t", "t", "-m", "x"])
        assert.strictEqual(wrong.code, 1, wrong.stderr)
        assert.include(wrong.stderr, `proxy http://alice@127.0.0.1:${http.port}`)
        // the flag, not the library's option name
        assert.include(wrong.stderr, "check the proxy's user name and password (--proxy)")
        assert.notInclude(wrong.stderr, "proxy option")
        assert.notInclude(wrong.stderr, SECRET)
      }))
  })

  it.live("pub --ws-header: the headers reach the handshake", () =>
    Effect.gen(function*() {
      const wsPort = yield* freePort
      const broker = yield* Mosquitto.start({ extraConfig: `listener ${wsPort} lo\nprotocol websockets` })
      const gate = yield* WsGate.start({ target: wsPort })
      const sub = yield* listener(broker.url, "cli/ws")
      const run = yield* runInProcess([
        "pub", "--url", `${gate.url}/mqtt`, "--ws-header", "Authorization: Bearer abc", "--ws-header", "x-device:7", "-t", "cli/ws", "-m", "with headers"
      ])
      assert.strictEqual(run.code, 0, run.stderr)
      assert.strictEqual(yield* sub.next, "with headers")
      const handshake = yield* gate.handshakes.waitFor(() => true, 1000, "the handshake")
      assert.strictEqual(handshake.headers["authorization"], "Bearer abc")
      assert.strictEqual(handshake.headers["x-device"], "7")
    }))
})
