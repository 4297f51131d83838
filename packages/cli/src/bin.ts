#!/usr/bin/env node
/**
 * Entry point of the `aimeqtt` binary. `NodeRuntime.runMain` turns SIGINT/SIGTERM into an
 * interruption (the client's scope closes and sends DISCONNECT, exit 130) and a {@link CliFailure}
 * into its exit code.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import { main } from "./Cli.ts"

main().pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
