/** Whether what a user's app installs with our packages accepts a Node version (`engines.node`). */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Manifest, readManifest } from "./Packages.ts"

/**
 * A small `semver.satisfies` for `engines.node` ranges: `||` alternatives of space-separated comparators
 * (`>=`, `>`, `<=`, `<`, `=`, `^`, `~`, bare or partial versions, `x`, `*`). `undefined` when a range is
 * outside that grammar (then the caller reports it).
 */
export const satisfies = (version: string, range: string): boolean | undefined => {
  const [major = 0, minor = 0, patch = 0] = version.split(".").map(Number)
  const compare = (a: ReadonlyArray<number>) => major - (a[0] ?? 0) || minor - (a[1] ?? 0) || patch - (a[2] ?? 0)
  const comparator = (text: string): boolean | undefined => {
    if (text === "*" || text === "x" || text === "") return true
    const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(text)
    if (m === null) return undefined
    const parts = [m[2], m[3], m[4]].filter((p): p is string => p !== undefined && /^\d+$/.test(p)).map(Number)
    const c = compare(parts)
    switch (m[1]) {
      case ">=":
        return c >= 0
      case ">":
        return c > 0
      case "<=":
        return c <= 0
      case "<":
        return c < 0
      case "^":
        return parts[0] === 0 ? undefined : c >= 0 && major === parts[0]
      case "~":
        return c >= 0 && major === parts[0] && (parts.length < 2 || minor === parts[1])
      default: // `=` or bare: the given parts must match
        return parts.every((p, i) => [major, minor, patch][i] === p)
    }
  }
  const results = range.split("||").map((alternative) =>
    alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1").split(/\s+/).map(comparator)
  )
  if (results.some((all) => all.some((r) => r === undefined))) return undefined
  return results.some((all) => all.every((r) => r === true))
}

/** The installed packages a user's app gets from ours: their dependencies and installed peers, recursively. */
export const installedClosure = (appDir: string, roots: ReadonlyArray<string>): Map<string, { readonly dir: string; readonly manifest: Manifest }> => {
  const found = new Map<string, { readonly dir: string; readonly manifest: Manifest }>()
  const locate = (name: string, from: string): string | undefined => {
    for (let dir = from; dir.startsWith(appDir); dir = Path.dirname(dir)) {
      const candidate = Path.join(dir, "node_modules", name)
      if (Fs.existsSync(Path.join(candidate, "package.json"))) return candidate
      if (dir === appDir) break
    }
    return undefined
  }
  const visit = (name: string, from: string) => {
    const dir = locate(name, from)
    if (dir === undefined || found.has(dir)) return
    const manifest = readManifest(dir)
    found.set(dir, { dir, manifest })
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies })) visit(dep, dir)
  }
  for (const root of roots) visit(root, appDir)
  return found
}
