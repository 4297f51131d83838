/**
 * SqliteSessionStore without its optional driver: `better-sqlite3` is mocked to fail as a missing package
 * does (in a file of its own: the mock replaces the module for the whole file).
 */
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"
import { vi } from "vitest"

vi.mock("better-sqlite3", () => {
  throw new Error("Cannot find package 'better-sqlite3' imported from SqliteSessionStore.ts")
})

it.effect("without better-sqlite3 installed, open fails with SessionStoreError naming the package to install", () =>
  Effect.gen(function*() {
    const SqliteSessionStore = yield* Effect.promise(() => import("../../src/SqliteSessionStore.ts"))
    const store = SqliteSessionStore.make(Path.join(Os.tmpdir(), "aimeqtt-never-created", "x.db"))
    const error = yield* Effect.flip(Effect.scoped(store.open("c")))
    assert.strictEqual(error._tag, "SessionStoreError")
    assert.include(error.message, "npm install better-sqlite3")
  }))
