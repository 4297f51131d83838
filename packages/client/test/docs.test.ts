/**
 * Every public export of the three packages has TSDoc with `@since` and `@category` (issue 12: the
 * generated docs group the API by category, as effect's packages do). Public means reachable from a
 * package entry (`src/index.ts`, and the client's `src/index.browser.ts`), following re-exports.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"

const packages = Path.resolve(import.meta.dirname, "../..")

interface Finding {
  readonly name: string
  readonly file: string
  readonly problem: string
}

const read = (file: string): string => Fs.readFileSync(file, "utf8")
const resolve = (from: string, specifier: string): string => Path.resolve(Path.dirname(from), specifier)

/** The TSDoc block right before `export ... name` in `file`, `undefined` when the file does not declare it. */
const declaration = (source: string, name: string): { readonly doc: string | undefined } | undefined => {
  const pattern = new RegExp(`(/\\*\\*(?:(?!\\*/)[\\s\\S])*?\\*/)?\\s*\\nexport (?:declare )?(?:abstract )?(?:const|let|type|interface|class|function) ${name}\\b`)
  const match = pattern.exec(`\n${source}`)
  return match === null ? undefined : { doc: match[1] }
}

/** Checks `names` (or every export, `"*"`) of `file`, following its own re-exports. */
const check = (file: string, names: ReadonlyArray<string> | "*", seen: Set<string>, findings: Array<Finding>): void => {
  const source = read(file)
  // A module's own `export * from`: everything it re-exports is public too.
  if (names === "*" && seen.has(`${file}#*`)) return
  if (names === "*") seen.add(`${file}#*`)
  if (names === "*") for (const m of source.matchAll(/^export \* from "([^"]+)"/gm)) check(resolve(file, m[1] as string), "*", seen, findings)
  const wanted = names === "*"
    ? [...source.matchAll(/^export (?:declare )?(?:abstract )?(?:const|let|type|interface|class|function) (\w+)/gm)].map((m) => m[1] as string)
    : names
  for (const name of wanted) {
    const key = `${file}#${name}`
    if (seen.has(key)) continue
    seen.add(key)
    const found = declaration(source, name)
    if (found === undefined) {
      // Re-exported from another module: `export { name } from "./X.ts"` or `export type { name } from`.
      const reexport = [...source.matchAll(/export (?:type )?\{([^}]*)\} from "([^"]+)"/g)]
        .find((m) => (m[1] as string).split(",").map((n) => n.trim().replace(/^type /, "").split(/\s+as\s+/)[0]).includes(name))
      if (reexport === undefined) findings.push({ name, file, problem: "declaration not found" })
      else check(resolve(file, reexport[2] as string), [name], seen, findings)
      continue
    }
    if (found.doc === undefined) findings.push({ name, file, problem: "no TSDoc" })
    else {
      if (!found.doc.includes("@since")) findings.push({ name, file, problem: "no @since" })
      if (!found.doc.includes("@category")) findings.push({ name, file, problem: "no @category" })
    }
  }
}

/** Walks an entry module's `export * from`, `export * as`, `export { ... } from` lines. */
const checkEntry = (entry: string, seen: Set<string>, findings: Array<Finding>): void => {
  const source = read(entry)
  for (const m of source.matchAll(/^export \* from "([^"]+)"/gm)) {
    const target = resolve(entry, m[1] as string)
    if (/index(\.browser)?\.ts$/.test(target)) checkEntry(target, seen, findings)
    else check(target, "*", seen, findings)
  }
  for (const m of source.matchAll(/^export \* as \w+ from "([^"]+)"/gm)) check(resolve(entry, m[1] as string), "*", seen, findings)
  for (const m of source.matchAll(/^export (?:type )?\{([^}]*)\} from "([^"]+)"/gm)) {
    const names = (m[1] as string).split(",").map((n) => n.trim().replace(/^type /, "").split(/\s+as\s+/)[0] as string).filter((n) => n !== "")
    check(resolve(entry, m[2] as string), names, seen, findings)
  }
}

describe("TSDoc on the public API", () => {
  for (const [pkg, entries] of [["codec", ["index.ts"]], ["client", ["index.ts", "index.browser.ts"]], ["cli", ["index.ts"]]] as const) {
    it(`@aimeqtt/${pkg}: every export has @since and @category`, () => {
      const seen = new Set<string>()
      const findings: Array<Finding> = []
      for (const entry of entries) checkEntry(Path.join(packages, pkg, "src", entry), seen, findings)
      assert.isAbove(seen.size, 2, "exports were found")
      assert.deepStrictEqual(findings.map((f) => `${Path.relative(packages, f.file)}: ${f.name}: ${f.problem}`), [])
    })
  }
})
