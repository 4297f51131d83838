/** Our packages as the release sees them: where they are, their manifests, and building and packing them with pnpm. */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** The workspace root. */
export const root = Path.resolve(import.meta.dirname, "../../../..")
export const PACKAGES = ["codec", "client", "cli"] as const
export const MIN_NODE = ">=22.19"

export interface Manifest {
  readonly name: string
  readonly engines?: Record<string, string>
  readonly exports?: unknown
  readonly imports?: unknown
  readonly bin?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
}

/** The `package.json` of the package in `dir` (a workspace package, an unpacked tarball, an installed package). */
export const readManifest = (dir: string): Manifest => JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as Manifest

/** Every leaf target of a conditional export map, with the conditions that lead to it. */
export const targets = (map: unknown, path: ReadonlyArray<string> = []): Array<{ readonly conditions: ReadonlyArray<string>; readonly target: string }> => {
  if (typeof map === "string") return [{ conditions: path, target: map }]
  if (typeof map !== "object" || map === null) return []
  return Object.entries(map).flatMap(([key, value]) => targets(value, key.startsWith(".") || key.startsWith("#") ? path : [...path, key]))
}

export const pnpm = (args: ReadonlyArray<string>) =>
  execFileSync("npx", ["-y", "pnpm@10", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], timeout: 180_000 })

/** The tarball `pnpm pack` wrote for package `name` into `out`, if any. */
export const tarballOf = (out: string, name: string): string | undefined =>
  Fs.readdirSync(out).find((f) => f.startsWith(`aimeqtt-${name}-`) && f.endsWith(".tgz"))
