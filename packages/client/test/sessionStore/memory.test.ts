/**
 * The memory session store against the conformance suite. Not durable: a "restart" opens the client again
 * on the same instance (a client rebuilt in the same process).
 */
import { Effect } from "effect"
import { memory } from "../../src/SessionStore.ts"
import { conformance } from "./conformance.ts"

conformance({
  name: "memory",
  durable: false,
  storage: Effect.sync(() => {
    const store = memory()
    return { make: Effect.succeed(store) }
  })
})
