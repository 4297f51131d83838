/**
 * The write-ahead gate between the session and the wire: each step's changes are stored, in the order
 * the steps happened, before the step goes on (its packets are sent, its message delivered). A store
 * that answers synchronously (the memory store) costs no fiber hop; an asynchronous one (a file,
 * SQLite, IndexedDB) gets the steps that pile up while it writes in one `apply` (a group commit).
 *
 * Steps with no changes wait too while a write is pending, so packets leave in the order of their steps.
 * The journal never runs two `apply`s at once (the store contract).
 *
 * @since 0.4.0
 */
import { Cause, Effect, Exit, type Fiber } from "effect"
import { SessionStoreError } from "./errors.ts"
import type { StoreChange } from "./SessionStore.ts"

/** What runs once a step's changes are durable (`undefined`) or could not be stored. */
export type Continuation = (error: SessionStoreError | undefined) => void

interface Entry {
  readonly changes: ReadonlyArray<StoreChange>
  readonly then: Continuation
}

/** @since 0.4.0 */
export interface Journal {
  /**
   * Runs `then` once `changes` and everything submitted before are stored: at once when there is nothing
   * to store and nothing pending, otherwise when the store answers (with the error, if it failed).
   */
  readonly submit: (changes: ReadonlyArray<StoreChange>, then: Continuation) => void
  /** True when nothing is being written: a step without changes may go on at once. */
  readonly idle: () => boolean
  /** Completes once everything submitted so far is settled (before the store closes). */
  readonly flushed: Effect.Effect<void>
}

/** A failed or dead `apply` as the store error the engine reports. */
const storeError = (cause: Cause.Cause<SessionStoreError>): SessionStoreError => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") return error.value
  // A store that threw (a defect) or was interrupted: reported like a failure, never a crash.
  const defect = Cause.squash(cause)
  const message = defect instanceof Error ? defect.message : Cause.hasInterruptsOnly(cause) ? "the write was interrupted" : String(defect)
  return new SessionStoreError({ message, cause: defect })
}

/**
 * A journal writing through `apply`, whose Effects `run` starts (with the engine's services).
 *
 * @since 0.4.0
 */
export const make = (
  apply: (changes: ReadonlyArray<StoreChange>) => Effect.Effect<void, SessionStoreError>,
  run: (effect: Effect.Effect<void, SessionStoreError>) => Fiber.Fiber<void, SessionStoreError>,
  /** The store's synchronous write, when it has one (the memory store): no fiber per write. */
  applyNow?: (changes: ReadonlyArray<StoreChange>) => void
): Journal => {
  let pending: Array<Entry> = []
  let writing = false

  const write = (batch: ReadonlyArray<Entry>): void => {
    writing = true
    const changes = batch.length === 1 ? batch[0]!.changes : batch.flatMap((entry) => entry.changes)
    const settle = (exit: Exit.Exit<void, SessionStoreError>): void => {
      const error = Exit.isSuccess(exit) ? undefined : storeError(exit.cause)
      // Still "writing" while the continuations run: a step they cause queues behind the batch's later steps.
      for (const entry of batch) entry.then(error)
      writing = false
      if (pending.length > 0) {
        const next = pending
        pending = []
        write(next)
      }
    }
    if (changes.length === 0) return settle(Exit.void)
    if (applyNow !== undefined) {
      applyNow(changes)
      return settle(Exit.void)
    }
    // Suspended: a store that throws instead of failing its Effect is a failed write, not a stuck journal.
    const fiber = run(Effect.suspend(() => apply(changes)))
    // Started synchronously: a synchronous store has answered already.
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) settle(exit)
    else fiber.addObserver(settle)
  }

  const submit = (changes: ReadonlyArray<StoreChange>, then: Continuation): void => {
    if (writing || pending.length > 0) {
      pending.push({ changes, then })
      return
    }
    if (changes.length === 0) return then(undefined)
    write([{ changes, then }])
  }

  const flushed: Effect.Effect<void> = Effect.suspend(() =>
    !writing && pending.length === 0
      ? Effect.void
      : Effect.callback<void>((resume) => submit([], () => resume(Effect.void)))
  )

  return { submit, idle: () => !writing && pending.length === 0, flushed }
}
