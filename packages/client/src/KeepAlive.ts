/**
 * The keep-alive loop of a connection.
 *
 * Sending [MQTT-3.1.2-23]: the keep-alive is the longest time "between the point at which the Client
 * finishes transmitting one Control Packet and the point it starts sending the next", and without other
 * packets the client MUST send PINGREQ. So a PINGREQ goes out when the socket took no byte for
 * `keepAlive` (a PUBLISH still being transmitted, slice by slice, is no silence). It also goes out when
 * nothing was *received* for `keepAlive`: that catches a frozen broker even while we keep publishing
 * into the socket's buffers. The broker's side of the rule, [MQTT-3.1.2-24] (it drops us after 1.5 x
 * keepAlive without a packet), is why the PINGREQ is due at `keepAlive` and not later.
 *
 * Declaring the broker dead: the sentence after [MQTT-3.1.2-24], "If a Client does not receive a
 * PINGRESP Packet within a reasonable amount of time after it has sent a PINGREQ, it SHOULD close the
 * Network Connection". That time counts from when the PINGREQ was *sent*, not queued, and liveness is
 * measured on bytes, not on our own queue:
 * - queued: the PINGREQ waits in the writer's queue behind other bytes (a large PUBLISH on a slow link).
 *   It cannot have been answered, so the broker is alive as long as bytes keep leaving the socket (the
 *   broker, or at least its TCP stack, takes them) or arriving. If neither happened for `pingTimeout`,
 *   the broker stopped reading: dead. A queued PINGREQ is never a reason to wait forever.
 * - written: the socket accepted it (the writer's callback). The broker has `pingTimeout` from then,
 *   and any byte received answers it. When the socket had made the writer wait for room shortly
 *   before, its buffers were full: the bytes ahead of the PINGREQ (megabytes on a fast link to a slow
 *   reader) still have to reach the broker, and that cannot be observed from here. The broker then
 *   gets until one keep-alive after the socket last took such bytes, plus `pingTimeout`. Since the
 *   broker was reading at that moment, a dead broker is still detected at most
 *   `keepAlive + pingTimeout` after it stopped.
 * - No PINGREQ is queued behind a queued one, and an unanswered one keeps its deadline: while it is
 *   unanswered only send silence [MQTT-3.1.2-23] queues another (its answer may wait unread, see below,
 *   or behind our own bytes), and that one changes no deadline.
 * - While the reader hands packets to a slow subscriber it does not read the socket, so the broker's
 *   silence cannot be measured: it is not counted (the broker's bytes wait in the kernel, unread).
 *
 * {@link nextAction} is a pure function of the {@link Liveness} record and `now`; the writer and the
 * reader update the record through {@link sent}, {@link received}, {@link handingOn} and
 * {@link reading}. Time comes from `Clock`, so tests drive the loop with `TestClock`.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { ConnectionLost } from "./errors.ts"

/** A PINGREQ in progress. @since 0.2.0 */
export interface Ping {
  /** When the keep-alive loop queued it. */
  readonly queuedAt: number
  /** When the socket accepted it; `undefined` while it waits in the writer's queue. */
  writtenAt: number | undefined
}

/** What the connection observed of the broker's liveness, in `Clock` milliseconds. @since 0.1.0 */
export interface Liveness {
  /** When the socket last accepted bytes from the writer. */
  lastSent: number
  /**
   * When the socket last accepted bytes it had first made the writer wait for ({@link FULL_WAIT_MILLIS}
   * or more): its buffers were full until then, and what was in them may still be on its way.
   */
  lastFull: number | undefined
  /** When bytes last arrived from the broker, or the reader last went back to reading the socket. */
  lastReceived: number
  /** `false` while the reader hands packets on (to a slow subscriber) instead of reading the socket. */
  reading: boolean
  /** The oldest PINGREQ not answered yet: the deadline is its. */
  ping: Ping | undefined
  /** A later PINGREQ (send silence while `ping` is written and unanswered) still in the writer's queue. */
  nextPing: Ping | undefined
  /** Bytes the writer has taken from its queue that the socket has not accepted yet. */
  unsent: number
}

/** A fresh record for a connection opened at `now`. @since 0.2.0 */
export const make = (now: number): Liveness => ({
  lastSent: now,
  lastFull: undefined,
  lastReceived: now,
  reading: true,
  ping: undefined,
  nextPing: undefined,
  unsent: 0
})

/**
 * A socket write that took at least this long had to wait for room: the socket's buffers were full.
 * An immediate write takes well under a millisecond; waits that matter (a full socket draining to a
 * slow reader) take hundreds.
 *
 * @since 0.2.0
 */
export const FULL_WAIT_MILLIS = 20

/** The writer: the socket accepted bytes at `now`, after a write that started at `startedAt`. @since 0.2.0 */
export const sent = (liveness: Liveness, startedAt: number, now: number): void => {
  liveness.lastSent = now
  if (now - startedAt >= FULL_WAIT_MILLIS) liveness.lastFull = now
}

/** The reader: bytes arrived at `now`. Any byte answers the written PINGREQs; a queued one stays queued. @since 0.2.0 */
export const received = (liveness: Liveness, now: number): void => {
  liveness.lastReceived = now
  if (liveness.ping !== undefined && liveness.ping.writtenAt !== undefined) {
    liveness.ping = liveness.nextPing
    liveness.nextPing = undefined
  }
}

/** The reader stops reading the socket to hand packets on. @since 0.2.0 */
export const handingOn = (liveness: Liveness): void => {
  liveness.reading = false
}

/** The reader reads the socket again at `now`: the broker's silence counts from here. @since 0.2.0 */
export const reading = (liveness: Liveness, now: number): void => {
  liveness.reading = true
  liveness.lastReceived = now
}

/** @since 0.1.0 */
export interface KeepAliveOptions {
  readonly keepAliveMillis: number
  readonly pingTimeoutMillis: number
  readonly liveness: Liveness
  /** Queues a PINGREQ; `written` is called once the socket accepted it (after {@link sent}). */
  readonly sendPing: (written: () => void) => void
}

/** What the loop does next. @since 0.1.0 */
export type Action =
  | { readonly _tag: "Ping" } // queue a PINGREQ
  | { readonly _tag: "Dead"; readonly message: string }
  | { readonly _tag: "Wait"; readonly millis: number }

/** What the loop does next at time `now`. Pure: reads `options.liveness`, changes nothing. @since 0.1.0 */
export const nextAction = (options: Omit<KeepAliveOptions, "sendPing">, now: number): Action => {
  const { keepAliveMillis, liveness, pingTimeoutMillis } = options
  // Not reading: whatever the broker sent waits unread in the kernel, so its silence is not counted.
  const lastReceived = liveness.reading ? liveness.lastReceived : now
  const ping = liveness.ping
  if (ping === undefined) {
    const due = Math.min(liveness.lastSent, lastReceived) + keepAliveMillis
    if (now >= due) return { _tag: "Ping" }
    return { _tag: "Wait", millis: liveness.reading ? due - now : Math.min(due - now, pingTimeoutMillis) }
  }
  let deadline: number
  if (ping.writtenAt === undefined) {
    // Queued: alive while bytes leave the socket or arrive.
    deadline = Math.max(ping.queuedAt, liveness.lastSent, lastReceived) + pingTimeoutMillis
    if (now >= deadline) {
      const behind = liveness.unsent > 0 ? ` behind ${liveness.unsent} unsent bytes` : ""
      return {
        _tag: "Dead",
        message: `no byte left the socket or arrived within ${pingTimeoutMillis} ms while the PINGREQ waited${behind} ` +
          `(queued ${now - ping.queuedAt} ms ago): the broker stopped reading`
      }
    }
  } else {
    // Written: `pingTimeout` from the write, or from when the bytes ahead of it in the socket's full
    // buffers could have reached the broker (one keep-alive after the socket last took bytes).
    const drained = liveness.lastFull === undefined ? ping.writtenAt : liveness.lastFull + keepAliveMillis
    deadline = Math.max(ping.writtenAt, drained, lastReceived) + pingTimeoutMillis
    if (now >= deadline) {
      const behind = liveness.lastFull !== undefined && drained > ping.writtenAt
        ? ` and ${now - liveness.lastFull} ms after the socket, its buffers full until then, last took bytes`
        : ""
      return {
        _tag: "Dead",
        message: `no answer to PINGREQ within ${now - ping.writtenAt} ms of writing it to the socket${behind} ` +
          `(pingTimeout ${pingTimeoutMillis} ms): the broker is unreachable`
      }
    }
  }
  // Send silence still calls for a PINGREQ [MQTT-3.1.2-23] (the next one is due then at the earliest).
  const rearm = liveness.lastSent + keepAliveMillis
  if (ping.writtenAt !== undefined && liveness.nextPing === undefined && now >= rearm) return { _tag: "Ping" }
  if (rearm > now) return { _tag: "Wait", millis: Math.min(deadline, rearm) - now }
  // The PINGREQ is still queued: once written, the next one is due a keep-alive later. With a pingTimeout
  // longer than the keep-alive, sleeping until the deadline would skip it, and the broker closes a connection
  // silent for 1.5 keep-alives [MQTT-3.1.2-24]: look again within half a keep-alive.
  return { _tag: "Wait", millis: Math.max(1, Math.min(deadline - now, ping.writtenAt === undefined ? keepAliveMillis / 2 : deadline - now)) }
}

/** Runs until the connection is found dead (keep-alive 0 disables it: runs forever). @since 0.1.0 */
export const run = (options: KeepAliveOptions): Effect.Effect<never, ConnectionLost> =>
  Effect.gen(function*() {
    if (options.keepAliveMillis === 0) return yield* Effect.never
    const { liveness } = options
    while (true) {
      const now = yield* Clock.currentTimeMillis
      const action = nextAction(options, now)
      switch (action._tag) {
        case "Dead":
          return yield* new ConnectionLost({ message: action.message })
        case "Ping": {
          const ping: Ping = { queuedAt: now, writtenAt: undefined }
          if (liveness.ping === undefined) liveness.ping = ping
          else liveness.nextPing = ping
          options.sendPing(() => {
            ping.writtenAt = liveness.lastSent
            if (liveness.nextPing === ping) liveness.nextPing = undefined // answered along with `ping`
          })
          break
        }
        case "Wait":
          yield* Effect.sleep(action.millis)
      }
    }
  })
