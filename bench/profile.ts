/**
 * Summarizes a V8 .cpuprofile: self time per function and per file (top N).
 *
 *   node bench/profile.ts bench/profiles/some.cpuprofile [N]
 */
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const shortUrl = (url: string): string => {
  if (url === "") return "(native)"
  const clean = url.replace(/^file:\/\//, "")
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/(.*)$/.exec(clean)
  if (pnpm !== null) return pnpm[1]!
  const main = /\/work\/[^/]+\/(.*)$/.exec(clean)
  return main !== null ? main[1]! : clean
}

export const summarizeProfile = (file: string, top = 20): string => {
  const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfTime = new Map<number, number>()
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  let total = 0
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  for (const [id, time] of selfTime) {
    const node = byId.get(id)!
    total += time
    const { functionName, url, lineNumber } = node.callFrame
    const where = shortUrl(url)
    const key = `${functionName || "(anonymous)"}  ${where}${url ? `:${lineNumber + 1}` : ""}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + time)
    const fileKey = url === "" ? functionName : where
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + time)
  }
  const lines: Array<string> = [`total ${(total / 1000).toFixed(0)} ms sampled`]
  const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`
  lines.push("self time by function:")
  for (const [key, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${key}`)
  // inclusive ("total") time of our own functions: how much of the run is spent under each
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
  const inclusive = new Map<string, number>()
  for (const [id, time] of selfTime) {
    const keys = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { functionName, url, lineNumber } = byId.get(at)!.callFrame
      if (!/packages\/(client|codec)\/src/.test(url)) continue
      keys.add(`${functionName || "(anonymous)"}  ${shortUrl(url)}:${lineNumber + 1}`)
    }
    for (const key of keys) inclusive.set(key, (inclusive.get(key) ?? 0) + time)
  }
  lines.push("total (inclusive) time of packages/client|codec functions:")
  for (const [key, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${key}`)
  lines.push("self time by file:")
  for (const [key, t] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t)}  ${key}`)
  return lines.join("\n")
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(summarizeProfile(process.argv[2]!, Number(process.argv[3] ?? 25)))
}
