/**
 * Wakes the fiber waiting on a queue at the end of the current JavaScript task instead of in a later
 * turn of the event loop. Used for the connection's writer.
 *
 * An Effect `Queue` releases its waiting taker through the scheduler, which on Node is a
 * `setImmediate`: one event-loop turn (an epoll round, timers, other I/O) between a publish and its
 * bytes reaching the socket. A microtask still runs after everything the current task queued, so a
 * burst of publishes (or of acknowledgements resumed by one socket chunk) is still written as one
 * coalesced batch, but no event-loop turn is spent: round-trip p99 dropped 2-3x in `bench:e2e`.
 *
 * Not used for subscription streams: there the later wake lets several socket chunks accumulate for
 * one consumer pass, and waking per chunk cost 15-20% of 4 KiB QoS 0 throughput without improving
 * latency.
 *
 * @since 0.1.0
 */
import { Queue } from "effect"

let pending: Array<Queue.Enqueue<never, never>> = []

const flush = (): void => {
  const queues = pending
  pending = []
  for (const queue of queues) Queue.flushUnsafe(queue)
}

/**
 * Releases `queue`'s waiting taker once the current task's synchronous work is done. Offers made in
 * the meantime are taken together. Idempotent within a task.
 *
 * @since 0.1.0
 */
export const soon = <A, E>(queue: Queue.Enqueue<A, E>): void => {
  const q = queue as unknown as Queue.Enqueue<never, never>
  if (pending.length === 0) queueMicrotask(flush)
  else if (pending.includes(q)) return
  pending.push(q)
}
