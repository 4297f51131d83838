/**
 * The file session store against the conformance suite, with its damage hooks: a torn last line, a garbage
 * line before the client's records, and every log file overwritten with random bytes.
 */
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as FileSessionStore from "../../src/FileSessionStore.ts"
import { tempDir } from "../util.ts"
import { conformance } from "./conformance.ts"

/** The log of one client. */
const logOf = (dir: string, clientId: string) => {
  const file = Path.join(dir, FileSessionStore.fileName(clientId))
  if (!Fs.existsSync(file)) throw new Error(`no log at ${file}: did the file store's naming change?`)
  return file
}

conformance({
  name: "file",
  durable: true,
  propertyRuns: 30,
  storage: Effect.map(tempDir("aimeqtt-conformance-file-"), (dir) => ({
    make: Effect.sync(() => FileSessionStore.make(dir)),
    corrupt: {
      tornWrite: (clientId) => Effect.sync(() => Fs.appendFileSync(logOf(dir, clientId), '{"op":"put","id":3,"stage":"se')),
      damageRecord: (clientId) =>
        Effect.sync(() => {
          const file = logOf(dir, clientId)
          const lines = Fs.readFileSync(file, "utf8")
          Fs.writeFileSync(file, '{"op":"put","id":"x","props":7}\n\u0000\u00ff garbage\n' + lines)
        }),
      replaceWithGarbage: Effect.sync(() => {
        for (const name of Fs.readdirSync(dir)) Fs.writeFileSync(Path.join(dir, name), Crypto.randomBytes(4096))
      })
    }
  }))
})
