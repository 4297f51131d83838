/**
 * The browser build: `examples/browser` bundled with esbuild for the `browser` condition (global
 * `WebSocket`, no Node module), served from a local http server and opened in a real headless
 * Chromium against mosquitto's WebSocket listener; messages published from Node must show up in the page.
 *
 * Needs Debian's `chromium` (`apt-get install -y chromium`) and mosquitto. Without chromium the test is
 * skipped with a loud warning, except under `CI=true`, where it fails (same policy as `describeMosquitto`).
 */
import { MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as BrowserEntry from "../src/index.browser.ts"
import * as NodeEntry from "../src/index.ts"
import { freePort, Mosquitto, mosquittoPub } from "./brokers/index.ts"
import { awaitPageStatus, describeChromium, openExample } from "./browser/Chromium.ts"

describe("browser entry", () => {
  it("exports what the Node entry exports, minus the Node-only modules", () => {
    const nodeOnly = new Set(["FileSessionStore", "SqliteSessionStore"])
    assert.deepStrictEqual(
      Object.keys(BrowserEntry).sort(),
      Object.keys(NodeEntry).filter((name) => !nodeOnly.has(name)).sort()
    )
  })
})

const browserTests = () => {
  it.live("the example page subscribes over ws:// and lists live messages", () =>
    Effect.gen(function*() {
      const wsPort = yield* freePort
      const broker = yield* Mosquitto.start({ extraConfig: `listener ${wsPort} lo\nprotocol websockets` })
      const { page, errors: pageErrors } = yield* openExample("browser", { url: `ws://127.0.0.1:${wsPort}/mqtt`, topic: "browser/#" })
      yield* awaitPageStatus(page, "subscribed", pageErrors, () => `\n${broker.logText()}`)

      // publish from Node: our client over TCP, and mosquitto_pub
      const publisher = yield* Layer.build(MqttClient.layer({ url: broker.url })).pipe(
        Effect.map((ctx) => Context.get(ctx, MqttClient))
      )
      yield* publisher.publish("browser/a", "first", { qos: 1 })
      yield* publisher.publish("browser/b", "zweite ✓", { qos: 1 })
      yield* publisher.publish("elsewhere", "not subscribed", { qos: 1 })
      yield* mosquittoPub({ port: broker.port, topic: "browser/cli", message: "from mosquitto_pub", qos: 1 })

      const shown = yield* Effect.promise(() =>
        page.waitForFunction("document.querySelectorAll('#messages li').length >= 3", undefined, { timeout: 10_000 })
          .then(() => true, () => false)
      )
      const items = yield* Effect.promise(() => page.$$eval("#messages li", (lis) => lis.map((li) => li.textContent ?? "")))
      assert.isTrue(shown, `items: ${items.join(" | ")}; page errors: ${pageErrors.join("\n")}`)
      assert.deepStrictEqual(items, ["browser/a: first", "browser/b: zweite ✓", "browser/cli: from mosquitto_pub"])
      assert.deepStrictEqual(pageErrors, [])
    }), 60_000)
}

describeChromium("browser (headless Chromium)", browserTests)
