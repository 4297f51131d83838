import { defineConfig } from "vitest/config"

const src = (pkg: string) => new URL(`./packages/${pkg}/src/index.ts`, import.meta.url).pathname

export default defineConfig({
  resolve: {
    alias: {
      "@aimeqtt/codec": src("codec"),
      "@aimeqtt/client": src("client")
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
