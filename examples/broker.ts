/**
 * Where the examples connect: `MQTT_URL` when set, otherwise an embedded aedes broker started on a
 * free 127.0.0.1 port for the lifetime of the scope (so every example runs with nothing installed).
 */
import { Aedes } from "aedes"
import { ConnectionRefused } from "@aimeqtt/client"
import { Console, Effect, type Scope } from "effect"
import * as Net from "node:net"

export interface EmbeddedOptions {
  /** Listen on this port (to restart a broker where clients expect it). */
  readonly port?: number
  /** Accept or refuse a CONNECT (false gives CONNACK 5, "not authorized"). */
  readonly authenticate?: (username: string | undefined, password: string | undefined) => boolean
}

/** An embedded broker; `close` stops it early (the scope stops it anyway). */
export const embeddedBroker = (options: EmbeddedOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const broker = await Aedes.createBroker()
      const authenticate = options.authenticate
      if (authenticate !== undefined) {
        broker.authenticate = (_client, username, password, done) =>
          done(null, authenticate(username ?? undefined, password?.toString()))
      }
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        broker.handle(socket)
      })
      await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve))
      const port = (server.address() as Net.AddressInfo).port
      const close = () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => broker.close(() => resolve()))
        })
      return { url: `mqtt://127.0.0.1:${port}`, port, close }
    }),
    (broker) => Effect.promise(broker.close)
  )

/** `MQTT_URL`, or the URL of an embedded broker that lives as long as the scope. */
export const brokerUrl: Effect.Effect<string, never, Scope.Scope> = Effect.gen(function*() {
  const url = process.env.MQTT_URL
  if (url !== undefined && url !== "") return url
  const broker = yield* embeddedBroker()
  yield* Console.log(`MQTT_URL is not set: started an embedded aedes broker at ${broker.url}`)
  return broker.url
})

/**
 * For the MQTT 5.0 examples: a refused connection (the embedded aedes broker speaks MQTT 3.1.1 only and
 * refuses a 5.0 CONNECT) fails with a message that says how to run `example:<name>` against a 5.0 broker.
 */
export const needsMqtt5 = (name: string) =>
<A, E, R>(self: Effect.Effect<A, E | ConnectionRefused, R>): Effect.Effect<A, E | string, R> =>
  Effect.catchIf(self, (error): error is ConnectionRefused => error instanceof ConnectionRefused, (error) =>
    Effect.fail(
      `${error.message}\nThis example needs an MQTT 5.0 broker; the embedded aedes broker speaks 3.1.1 only. ` +
        `Run it against mosquitto 2: MQTT_URL=mqtt://localhost:1883 npx -y pnpm@10 example:${name}`
    ))
