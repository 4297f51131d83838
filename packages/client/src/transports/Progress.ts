/**
 * The progress of one connection attempt while its transport connects: what it waits for (the transport's
 * connect, `websocket.handshake`, a proxy's answer), so that a timeout names it instead of the broker's
 * CONNACK. Internal: not exported from the package.
 */
import { Context, Effect } from "effect"

/**
 * What an attempt is waiting for while its transport connects, for the message of a timeout: each step of a
 * built-in transport (`websocket.handshake`, the proxy's answer) names itself with {@link waitingFor}; `opened`
 * once the transport gave its channel.
 */
export interface Progress {
  /** What is pending, e.g. "websocket.handshake", with the cause the timeout's error gets. */
  pending: { readonly what: string; readonly cause?: (within: string) => unknown } | undefined
  opened: boolean
}

/** The {@link Progress} of the attempt a transport's connect runs in (`undefined` outside `Registry.open`). @internal */
export const CurrentProgress: Context.Reference<Progress | undefined> = Context.Reference<Progress | undefined>(
  "@aimeqtt/client/transports/Progress",
  { defaultValue: () => undefined }
)

/** Records what the attempt now waits for (see {@link Progress}). @internal */
export const waitingFor = (what: string, cause?: (within: string) => unknown): Effect.Effect<void> =>
  Effect.map(CurrentProgress, (progress) => {
    if (progress !== undefined) progress.pending = { what, ...(cause !== undefined ? { cause } : {}) }
  })

/** A fresh {@link Progress}, for one attempt. @internal */
export const progress = (): Progress => ({ pending: undefined, opened: false })
