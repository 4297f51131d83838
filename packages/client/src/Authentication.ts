/**
 * MQTT 5.0 enhanced authentication [MQTT-4.12]: the AUTH exchange's rules, around the user's steps
 * (`authentication` option). The connection drives it: during CONNECT (until CONNACK) and on
 * `reauthenticate` (AUTH 0x19, then challenges, until AUTH 0x00).
 *
 * @since 0.3.0
 */
import type { Auth, Connect } from "@aimeqtt/codec"
import { Effect } from "effect"
import { AuthenticationFailed, ProtocolError } from "./errors.ts"
import type { AuthenticationOptions, ConnectRequest } from "./Options.ts"

/** Runs a step of the user's, its failure as `AuthenticationFailed` naming the step. */
const step = <A>(name: string, effect: Effect.Effect<A, unknown>): Effect.Effect<A, AuthenticationFailed> =>
  Effect.mapError(
    Effect.suspend(() => effect),
    (cause) => new AuthenticationFailed({ message: `the authentication's ${name} step failed`, cause })
  )

/** The CONNECT with the Authentication Method and the first Authentication Data [MQTT-3.1.2.11.9]. */
export const connectWith = (
  connect: ConnectRequest,
  auth: AuthenticationOptions
): Effect.Effect<ConnectRequest, AuthenticationFailed> =>
  Effect.map(auth.start === undefined ? Effect.succeed(undefined) : step("start", auth.start), (data) => {
    if (connect.protocolLevel !== 5) return connect
    const properties: NonNullable<Connect<5>["properties"]> = {
      ...connect.properties,
      authenticationMethod: auth.method,
      ...(data !== undefined ? { authenticationData: data } : {})
    }
    return { ...connect, properties }
  })

/** AUTH 0x19 asking to authenticate again on an open connection [MQTT-4.12.1]. */
export const reauthenticateWith = (auth: AuthenticationOptions): Effect.Effect<Auth, AuthenticationFailed> =>
  Effect.map(auth.start === undefined ? Effect.succeed(undefined) : step("start", auth.start), (data) => authPacket(0x19, auth.method, data))

const authPacket = (reasonCode: 0x18 | 0x19, method: string, data: Uint8Array | undefined): Auth => ({
  _tag: "Auth",
  reasonCode,
  properties: { authenticationMethod: method, ...(data !== undefined ? { authenticationData: data } : {}) }
})

/**
 * The answer to the broker's AUTH: `continue`'s next data for a challenge (0x18), `"done"` once it says
 * Success (0x00, after a re-authentication, checked by `finish`). The method must stay the one the client
 * chose [MQTT-4.12.0-5]; another code here is a protocol error.
 */
export const answer = (
  auth: AuthenticationOptions,
  packet: Auth,
  phase: "connect" | "reauthenticate"
): Effect.Effect<Auth | "done", AuthenticationFailed | ProtocolError> => {
  const method = packet.properties?.authenticationMethod
  if (method !== auth.method) {
    return Effect.fail(
      new ProtocolError({
        message: `AUTH with Authentication Method ${JSON.stringify(method ?? "")}, not the client's ${JSON.stringify(auth.method)} [MQTT-4.12.0-5]`
      })
    )
  }
  const data = packet.properties?.authenticationData
  if (packet.reasonCode === 0x18) return Effect.map(step("continue", auth.continue(data)), (next) => authPacket(0x18, auth.method, next))
  if (packet.reasonCode === 0 && phase === "reauthenticate") return Effect.as(finish(auth, data), "done" as const)
  return Effect.fail(
    new ProtocolError({ message: `AUTH with reason code ${packet.reasonCode} during ${phase === "connect" ? "CONNECT" : "re-authentication"} [MQTT-4.12.0-2]` })
  )
}

/** The broker's final Authentication Data, checked by the user's `finish`. */
export const finish = (auth: AuthenticationOptions, data: Uint8Array | undefined): Effect.Effect<void, AuthenticationFailed> =>
  auth.finish === undefined ? Effect.void : step("finish", auth.finish(data))
