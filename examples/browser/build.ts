/**
 * Bundles a browser example: `PAGE/main.ts` → `OUTDIR/main.js` (esbuild, platform `browser`) and copies
 * `PAGE/index.html`. PAGE is this directory unless given (e.g. `browser-session`). Fails when anything
 * from Node (`node:*`, `@effect/platform-node`) ends up in the bundle.
 *
 *   npx -y pnpm@10 --filter @aimeqtt/examples build:browser                  # → examples/browser/dist
 *   node --conditions=@aimeqtt/source browser/build.ts /tmp/out               # any output dir
 *   node --conditions=@aimeqtt/source browser/build.ts /tmp/out browser-session  # another page
 */
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Path from "node:path"

const here = import.meta.dirname
const outdir = Path.resolve(process.argv[2] ?? Path.join(here, "dist"))
const pageDir = Path.resolve(process.argv[3] ?? here)

const result = await esbuild.build({
  entryPoints: [Path.join(pageDir, "main.ts")],
  outfile: Path.join(outdir, "main.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  // the workspace packages resolve to their TypeScript sources; `browser` picks Transport.browser.ts
  conditions: ["@aimeqtt/source", "browser", "module"],
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: "warning"
})

const nodeInputs = Object.keys(result.metafile.inputs).filter((input) =>
  input.startsWith("node:") || input.includes("platform-node") || input.includes("Transport.node")
)
if (nodeInputs.length > 0) {
  console.error(`the browser bundle must not contain Node modules, found:\n${nodeInputs.join("\n")}`)
  process.exitCode = 1
} else {
  Fs.copyFileSync(Path.join(pageDir, "index.html"), Path.join(outdir, "index.html"))
  const size = Fs.statSync(Path.join(outdir, "main.js")).size
  console.log(`built ${Path.relative(process.cwd(), outdir) || "."}/main.js (${Math.round(size / 1024)} KiB) and index.html`)
}
