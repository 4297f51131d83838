/**
 * The release path (issue 12): every package is built and packed as `pnpm publish` would, and each tarball
 * is checked for what a user's project needs. Also run alone by `pnpm release:check`.
 * - no `workspace:` protocol left in its dependencies (only pnpm's pack and publish rewrite it);
 * - every `exports` / `imports` target resolves into `dist/` under every condition a user's tools may set
 *   (vitest sets `development`, bundlers `browser`, TypeScript `types`); `src/` only under
 *   `@aimeqtt/source`, which only this workspace sets;
 * - README, LICENSE and the built entry points are in the tarball;
 * - `engines.node` states the real minimum (>= 22.19, what `@effect/platform-node` 4.1 declares);
 * - `@effect/platform-node` is an optional peer of the client (browser apps do not need it), and the
 *   packages agree on Effect's range (an exact pin next to a caret range gives two copies of Effect).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "../../..")
const PACKAGES = ["codec", "client", "cli"] as const
const MIN_NODE = ">=22.19"

interface Manifest {
  readonly name: string
  readonly engines?: Record<string, string>
  readonly exports?: unknown
  readonly imports?: unknown
  readonly bin?: Record<string, string>
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
}

/** Every leaf target of a conditional export map, with the conditions that lead to it. */
const targets = (map: unknown, path: ReadonlyArray<string> = []): Array<{ readonly conditions: ReadonlyArray<string>; readonly target: string }> => {
  if (typeof map === "string") return [{ conditions: path, target: map }]
  if (typeof map !== "object" || map === null) return []
  return Object.entries(map).flatMap(([key, value]) => targets(value, key.startsWith(".") || key.startsWith("#") ? path : [...path, key]))
}

const pnpm = (args: ReadonlyArray<string>) =>
  execFileSync("npx", ["-y", "pnpm@10", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"], timeout: 180_000 })

describe("release: the packages as published", () => {
  const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "aimeqtt-release-"))
  const unpacked = new Map<string, string>()
  afterAll(() => Fs.rmSync(out, { recursive: true, force: true }))

  it("build and pack every package with pnpm (which rewrites workspace:)", () => {
    pnpm(["-r", "build"])
    pnpm(["-r", "pack", "--pack-destination", out])
    for (const name of PACKAGES) {
      const tarball = Fs.readdirSync(out).find((f) => f.startsWith(`aimeqtt-${name}-`) && f.endsWith(".tgz"))
      assert.isDefined(tarball, `no tarball for ${name} in ${Fs.readdirSync(out).join(", ")}`)
      const dir = Path.join(out, name)
      Fs.mkdirSync(dir)
      execFileSync("tar", ["-xzf", Path.join(out, tarball as string), "-C", dir])
      unpacked.set(name, Path.join(dir, "package"))
    }
  }, 240_000)

  for (const name of PACKAGES) {
    it(`@aimeqtt/${name}: no workspace: protocol, dist/ under every user condition, README, LICENSE, engines`, () => {
      const dir = unpacked.get(name)
      assert.isDefined(dir, "packed")
      if (dir === undefined) return
      const manifest = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as Manifest
      for (const [dep, range] of Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies })) {
        assert.notMatch(range, /^workspace:/, `${dep}: ${range}`)
      }
      for (const { conditions, target } of [...targets(manifest.exports), ...targets(manifest.imports)]) {
        if (conditions.includes("@aimeqtt/source")) continue
        assert.match(target, /^\.\/dist\//, `${conditions.join(" > ") || "default"} -> ${target}`)
        assert.isTrue(Fs.existsSync(Path.join(dir, target)), `${target} is in the tarball`)
      }
      for (const bin of Object.values(manifest.bin ?? {})) assert.isTrue(Fs.existsSync(Path.join(dir, bin)), bin)
      for (const file of ["README.md", "LICENSE"]) assert.isTrue(Fs.existsSync(Path.join(dir, file)), `${file} is in the tarball`)
      assert.strictEqual(manifest.engines?.node, MIN_NODE)
    })
  }

  it("@aimeqtt/client: @effect/platform-node is an optional peer; the browser entry has its own typings", () => {
    const dir = unpacked.get("client")
    if (dir === undefined) return assert.fail("not packed")
    const manifest = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as Manifest
    assert.strictEqual(manifest.peerDependenciesMeta?.["@effect/platform-node"]?.optional, true)
    const browser = targets(manifest.exports).filter((t) => t.conditions[0] === "browser")
    assert.deepStrictEqual(browser.map((t) => t.target).sort(), ["./dist/index.browser.d.ts", "./dist/index.browser.js"])
  })

  it("the packages agree on Effect's range", () => {
    const ranges = new Set<string>()
    for (const name of PACKAGES) {
      const manifest = JSON.parse(Fs.readFileSync(Path.join(root, "packages", name, "package.json"), "utf8")) as Manifest
      for (const dep of ["effect", "@effect/platform-node"]) {
        const range = manifest.dependencies?.[dep] ?? manifest.peerDependencies?.[dep]
        if (range !== undefined) ranges.add(`${dep}@${range}`)
      }
    }
    assert.deepStrictEqual([...ranges].sort(), ["@effect/platform-node@^4.1.0", "effect@^4.1.0"])
  })
})
