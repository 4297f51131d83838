/**
 * What loading each library costs before it does anything (issue 16, item 3: "report Effect's load
 * cost separately"): a fresh Node process per probe imports one thing, runs a full gc a few times and
 * reports RSS and heapUsed, the time and CPU the import took and how many module files it loaded.
 *
 *   npx -y pnpm@10 bench:load-cost              each probe 5 times, medians
 *   npx -y pnpm@10 bench:load-cost --repeat 9
 *
 * The probes also answer "would deep `effect/*` imports in our source save anything?" without
 * changing the source: a synchronous module hook (`module.registerHooks`, in-thread) rewrites the built
 * client's and codec's `import { A, B } from "effect"` into `import * as A from "effect/A"` (and
 * `"effect/socket"` into `"effect/socket/Socket"`) as they load; the barrel re-exports exactly these
 * namespaces, so the rewritten client is the same code. Every probe registers the hook (a pass-through
 * where nothing is rewritten), so they all pay for it alike. Our client is the built package
 * (`pnpm bench:load-cost` builds first), as in bench:e2e.
 */
import { spawnSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { MB } from "./common.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))
const root = Path.join(here, "..")
const args = process.argv.slice(2)
const repeatArg = args.indexOf("--repeat")
const repeat = Math.max(1, Number(repeatArg >= 0 ? args[repeatArg + 1] : 5))

const clientUrl = pathToFileURL(Path.join(root, "packages", "client", "dist", "index.js")).href

/** The names our built client and codec import from `effect` (and `effect/socket`), for the deep-import probe. */
const deepModules = (): Array<string> => {
  const result = spawnSync("grep", ["-rhoE", "--include=*.js", 'import \\{[^}]*\\} from "effect(/socket)?"', "packages/client/dist", "packages/codec/dist"], {
    cwd: root,
    encoding: "utf8"
  })
  const modules = new Set<string>()
  for (const line of result.stdout.split("\n")) {
    const match = /import \{([^}]*)\} from "(effect(?:\/socket)?)"/.exec(line)
    if (match === null) continue
    for (const name of match[1]!.split(",").map((n) => n.trim().split(/\s+as\s+/)[0]!).filter((n) => n.length > 0)) {
      modules.add(`${match[2]}/${name}`)
    }
  }
  return [...modules].sort()
}

interface Probe {
  readonly name: string
  readonly imports: ReadonlyArray<string>
  /** Rewrite the client's and codec's `effect` barrel imports into deep imports while they load. */
  readonly rewrite: boolean
}

interface Sample {
  readonly rssMB: number
  readonly heapMB: number
  readonly loadMs: number
  readonly cpuMs: number
  readonly files: number
}

/** The probe's program (an ES module given to `node -e`, run from the repository root). */
const program = (probe: Probe): string => `
import { registerHooks } from "node:module"
const rewrite = ${probe.rewrite}
let files = 0
const deep = (source) => source.replace(/import\\s*\\{([^}]*)\\}\\s*from\\s*"(effect(?:\\/socket)?)";?/g, (_, names, from) =>
  names.split(",").map((n) => n.trim()).filter((n) => n.length > 0).map((n) => {
    const [name, alias] = n.split(/\\s+as\\s+/)
    return \`import * as \${alias ?? name} from "\${from}/\${name}";\`
  }).join("\\n"))
registerHooks({
  load(url, context, nextLoad) {
    const result = nextLoad(url, context)
    if (url.startsWith("file:")) files++
    if (rewrite && /\\/packages\\/(client|codec)\\/dist\\/.*\\.js$/.test(url) && result.source != null) {
      return { ...result, source: deep(typeof result.source === "string" ? result.source : Buffer.from(result.source).toString("utf8")) }
    }
    return result
  }
})
const t0 = performance.now()
const c0 = process.cpuUsage()
for (const specifier of ${JSON.stringify(probe.imports)}) await import(specifier)
const loadMs = performance.now() - t0
const cpu = process.cpuUsage(c0)
for (let i = 0; i < 4; i++) {
  globalThis.gc()
  await new Promise((resolve) => setTimeout(resolve, 20))
}
const m = process.memoryUsage()
console.log(JSON.stringify({ rssMB: m.rss / ${MB}, heapMB: m.heapUsed / ${MB}, loadMs, cpuMs: (cpu.user + cpu.system) / 1000, files }))
`

const run = (probe: Probe): Sample => {
  const result = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", program(probe)], { cwd: root, encoding: "utf8", timeout: 60_000 })
  const line = result.stdout.trim().split("\n").pop() ?? ""
  if (result.status !== 0 || !line.startsWith("{")) throw new Error(`probe "${probe.name}" failed (${result.status}):\n${result.stderr}`)
  return JSON.parse(line) as Sample
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const main = () => {
  const deep = deepModules()
  const probes: Array<Probe> = [
    { name: "node, nothing imported", imports: [], rewrite: false },
    { name: "`effect` (the barrel)", imports: ["effect"], rewrite: false },
    { name: `\`effect/*\`: the ${deep.length} deep modules our client and codec use`, imports: deep, rewrite: false },
    { name: "`@aimeqtt/client` (built; imports the `effect` barrel)", imports: [clientUrl], rewrite: false },
    { name: "`@aimeqtt/client`, its `effect` imports rewritten to deep imports", imports: [clientUrl], rewrite: true },
    { name: "`effect` barrel + `@aimeqtt/client` rewritten (an app that imports `effect`)", imports: ["effect", clientUrl], rewrite: true },
    { name: "`mqtt` (MQTT.js)", imports: ["mqtt"], rewrite: false }
  ]
  console.log(`node ${process.version}; each probe ${repeat} times in a fresh process (--expose-gc, 4 full gcs after the import), medians`)
  console.log(`deep modules: ${deep.join(", ")}`)
  const samples = probes.map(() => [] as Array<Sample>)
  // round-robin, so a burst of load on the machine hits every probe alike
  for (let round = 0; round < repeat; round++) {
    for (const [i, probe] of probes.entries()) samples[i]!.push(run(probe))
  }
  const rows = probes.map((probe, i) => {
    const s = samples[i]!
    return {
      name: probe.name,
      rssMB: median(s.map((x) => x.rssMB)),
      heapMB: median(s.map((x) => x.heapMB)),
      loadMs: median(s.map((x) => x.loadMs)),
      cpuMs: median(s.map((x) => x.cpuMs)),
      files: median(s.map((x) => x.files))
    }
  })
  const base = rows[0]!
  console.log("")
  console.log("| imported | RSS MB | heap MB | RSS over node | heap over node | import ms (wall) | import ms (CPU) | module files |")
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for (const r of rows) {
    const plus = (value: number) => (value >= 0 ? "+" : "") + value.toFixed(1)
    console.log(
      `| ${r.name} | ${r.rssMB.toFixed(1)} | ${r.heapMB.toFixed(1)} | ${r === base ? "" : plus(r.rssMB - base.rssMB)} | ${
        r === base ? "" : plus(r.heapMB - base.heapMB)
      } | ${r.loadMs.toFixed(0)} | ${r.cpuMs.toFixed(0)} | ${r.files} |`
    )
  }
}

main()
