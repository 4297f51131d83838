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

/** Whether the fiber has a tracer installed (not Effect's default native one). @since 0.1.0 */
export const isTraced = (fiber: Fiber.Fiber<unknown, unknown>): boolean => fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

/**
 * `self` in a span named `name` when a tracer is installed, else `self` as it is. `attributes` is
 * only called when the span is made.
 *
 * @since 0.1.0
 */
export const span = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  name: string,
  attributes?: () => Record<string, unknown>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) =>
    isTraced(fiber)
      ? Effect.withSpan(self, name, { ...(attributes !== undefined ? { attributes: attributes() } : {}), captureStackTrace: false })
      : self
  )
