/**
 * @aimeqtt/cli: the `aimeqtt` command line (`aimeqtt pub`, `aimeqtt sub`), exported for
 * in-process use and tests.
 *
 * @since 0.1.0
 */
export * from "./Cli.ts"
