/**
 * Every secret option must be `Redacted`: a plain string (JavaScript, `as any`) fails the layer with
 * `InvalidOptions` naming the field, never with a defect ("Unable to get redacted value") and never
 * showing the value.
 */
import { InvalidOptions, MqttClient } from "@aimeqtt/client"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { resolveOptions } from "../src/Options.ts"

const SECRET = "plain-Zq9-secret"

describe("secret options must be Redacted", () => {
  const cases: ReadonlyArray<readonly [string, Parameters<typeof resolveOptions>[0], string]> = [
    ["client password", { url: "mqtt://localhost", username: "u", password: SECRET as never }, "password must be Redacted"],
    ["proxy password", { url: "mqtt://localhost", proxy: { url: "socks5://proxy:1080", username: "u", password: SECRET as never } }, "proxy.password must be a Redacted string"],
    ["proxy password of a number", { url: "mqtt://localhost", proxy: { url: "http://proxy:3128", username: "u", password: Redacted.make(7) as never } }, "proxy.password must be a Redacted string"],
    ["proxy user name", { url: "mqtt://localhost", proxy: { url: "http://proxy:3128", username: 7 as never } }, "proxy.username must be a string"],
    ["tls.key", { url: "mqtts://localhost", tls: { key: SECRET as never } }, "tls.key must be Redacted"],
    ["tls.passphrase", { url: "mqtts://localhost", tls: { passphrase: SECRET as never } }, "tls.passphrase must be Redacted"],
    ["tls.pfx", { url: "mqtts://localhost", tls: { pfx: new TextEncoder().encode(SECRET) as never } }, "tls.pfx must be Redacted"]
  ]
  for (const [name, options, expected] of cases) {
    it.effect(`a plain ${name} fails the layer with InvalidOptions naming it`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Layer.build(MqttClient.layer(options)))
        assert.instanceOf(error, InvalidOptions)
        assert.include(error.message, expected)
        assert.notInclude(`${error.message} ${JSON.stringify(error)}`, SECRET)
      }).pipe(Effect.scoped))
  }

  it.live("a password Effect that gives a plain string fails the attempt with a ConnectError, not retried", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(MqttClient.layer({
        url: "mqtt://127.0.0.1:1",
        username: "u",
        password: Effect.succeed(SECRET as never),
        connectTimeout: "10 seconds"
      })))
      assert.strictEqual(error._tag, "ConnectError")
      assert.include(error.message, "the password effect must succeed with a Redacted string")
      assert.isFalse(error.isRetryable)
      assert.notInclude(`${error.message} ${JSON.stringify(error)}`, SECRET)
    }).pipe(Effect.scoped))
})
