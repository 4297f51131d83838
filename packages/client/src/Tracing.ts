/**
 * Spans only when someone listens. Effect's default tracer is a native one that exports nowhere, yet
 * every `withSpan` under it still builds a span, captures a stack trace and keeps both alive for as
 * long as the fibers started inside run: ~15% of a QoS 0 publish, and ~1 KB held per client for the
 * connection (bench/README.md). With `Effect.withTracer` or a tracing layer installed, every span is
 * there, without the stack capture.
 *
 * @since 0.1.0
 */
import { Effect, type Fiber, Tracer } from "effect"

/** Whether the fiber has a tracer installed (not Effect's default native one). */
const isTraced = (fiber: Fiber.Fiber<unknown, unknown>): boolean => fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

/**
 * Runs `body()` in a span named `name` when a tracer is installed, else just runs it (no extra step:
 * the publish hot path uses this). `body` and `attributes` are called each time the effect runs.
 *
 * @since 0.1.0
 */
export const span = <A, E, R>(
  name: string,
  attributes: (() => Record<string, unknown>) | undefined,
  body: () => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) =>
    isTraced(fiber)
      ? Effect.withSpan(Effect.suspend(body), name, {
        ...(attributes !== undefined ? { attributes: attributes() } : {}),
        captureStackTrace: false
      })
      : body()
  )
