import { defineConfig } from "vitest/config"

const src = (pkg: string) => new URL(`./packages/${pkg}/src/index.ts`, import.meta.url).pathname

export default defineConfig({
  resolve: {
    alias: {
      "@aimeqtt/codec": src("codec"),
      "@aimeqtt/client": src("client"),
      // The client's Node transport, from source: the published package maps `#transport` to dist/ under
      // every condition a user's tools may set, and to src/ only under `@aimeqtt/source`, which only this
      // workspace sets (tsconfig's customConditions, `node --conditions`).
      "#transport": new URL("./packages/client/src/Transport.node.ts", import.meta.url).pathname
    }
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The JSON report feeds the `N passed, N failed` line printed by .ci/run.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-report.json" }
  }
})
