/**
 * The keep-alive loop of a connection [MQTT-3.1.2-23]: send PINGREQ when nothing was sent or received
 * for `keepAlive`, and declare the connection dead when nothing arrives within `pingTimeout` after it.
 *
 * Pinging on receive silence too (not only send silence) catches a frozen broker even while we keep
 * publishing into the socket's buffers. A dead broker is detected at most `keepAlive + pingTimeout`
 * after it stopped answering (1.5 x keepAlive with the default pingTimeout).
 *
 * Reads time from `Clock`, so tests drive it with `TestClock`.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { ConnectionLost } from "./errors.ts"

/** When the connection last sent and received bytes, and when an unanswered PINGREQ went out. @since 0.1.0 */
export interface Liveness {
  lastSent: number
  lastReceived: number
  pingSentAt: number | undefined
}

/** @since 0.1.0 */
export interface KeepAliveOptions {
  readonly keepAliveMillis: number
  readonly pingTimeoutMillis: number
  readonly liveness: Liveness
  readonly sendPing: () => void
}

/** What the loop does next at time `now`. @since 0.1.0 */
export const nextAction = (
  options: Omit<KeepAliveOptions, "sendPing">,
  now: number
): { readonly _tag: "Ping" } | { readonly _tag: "Dead" } | { readonly _tag: "Wait"; readonly millis: number } => {
  const { liveness } = options
  if (liveness.pingSentAt !== undefined) {
    const deadline = liveness.pingSentAt + options.pingTimeoutMillis
    return now >= deadline ? { _tag: "Dead" } : { _tag: "Wait", millis: deadline - now }
  }
  const due = Math.min(liveness.lastSent, liveness.lastReceived) + options.keepAliveMillis
  return now >= due ? { _tag: "Ping" } : { _tag: "Wait", millis: due - now }
}

/** Runs until the connection is found dead (keep-alive 0 disables it: runs forever). @since 0.1.0 */
export const run = (options: KeepAliveOptions): Effect.Effect<never, ConnectionLost> =>
  Effect.gen(function*() {
    if (options.keepAliveMillis === 0) return yield* Effect.never
    while (true) {
      const now = yield* Clock.currentTimeMillis
      const action = nextAction(options, now)
      switch (action._tag) {
        case "Dead":
          return yield* new ConnectionLost({ message: `no answer to PINGREQ within ${options.pingTimeoutMillis} ms: the broker is unreachable` })
        case "Ping":
          options.liveness.pingSentAt = now
          options.sendPing()
          break
        case "Wait":
          yield* Effect.sleep(action.millis)
      }
    }
  })
