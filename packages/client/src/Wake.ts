/**
 * Wakes the fiber waiting on a queue at the end of the current JavaScript task instead of in a later
 * turn of the event loop.
 *
 * An Effect `Queue` releases its waiting taker through the scheduler, which on Node is a
 * `setImmediate`: one event-loop turn (an epoll round, timers, other I/O) between the offer and the
 * taker running. A round trip crosses two such queues (outbox → writer, reader → subscription), and
 * each turn is a chance for the operating system to run something else. A microtask still runs after
 * everything the current task offers, so a burst of publishes or a socket chunk full of messages is
 * taken as one batch (the writer keeps coalescing), but no turn of the event loop is spent.
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
