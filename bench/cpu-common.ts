/**
 * Shared by bench/cpu.ts (the harness) and its workers (bench/cpu-worker.ts with bench/cpu-ours.ts or
 * bench/cpu-mqttjs.ts): the CPU-per-message cases, the clock the latency is measured with, the stamped
 * payloads, the publisher's pacer and the subscriber's meter, and the IPC messages. No dependency on
 * either MQTT library.
 */
import { type Library, type ProtocolVersion, type QoS, readSeq, SequenceChecker, sizeLabel, type Verification } from "./common.ts"

/**
 * One paced run: the publisher offers `rate` messages per second (in small batches against a clock),
 * first `warmup` messages that are not measured, then `count` that are. Sequence numbers 0..warmup-1
 * are the warm-up, warmup..warmup+count-1 the measured window.
 */
export interface CpuCase {
  readonly id: string
  readonly protocolVersion: ProtocolVersion
  readonly qos: QoS
  readonly size: number
  /** Offered rate, messages per second. */
  readonly rate: number
  readonly warmup: number
  readonly count: number
  /**
   * Most publishes in flight (started, not yet completed: written at QoS 0, acknowledged at QoS 1/2),
   * and our client's `maxInflight`. A tick that would exceed it publishes less (the publisher then
   * falls behind the rate: flagged). At the offered rates a batch holds ~rate/1000 messages.
   */
  readonly window: number
}

/**
 * Milliseconds between the publisher's batches (a `setTimeout` or `Effect.sleep` underneath; Node makes
 * it ~1.1 ms): at 50k msg/s a batch holds ~55 messages.
 */
export const TICK_MS = 1

/** Offered rates (msg/s) per (QoS, payload size): below what mosquitto carries on this machine. */
const RATES: Record<number, Record<QoS, number>> = {
  64: { 0: 20_000, 1: 8_000, 2: 4_000 },
  4096: { 0: 20_000, 1: 10_000, 2: 5_000 }
}

/**
 * Seconds of warm-up and of measurement at the offered rate (`--quick`: 0.5 s and 1 s); `rateScale`
 * multiplies every offered rate (`--rate-scale`, to find where the broker stops keeping up).
 */
export const makeCpuCases = (quick: boolean, rateScale = 1): Array<CpuCase> => {
  const warmupSeconds = quick ? 0.5 : 1
  const measuredSeconds = quick ? 1 : 4
  const cases: Array<CpuCase> = []
  for (const protocolVersion of [4, 5] as const) {
    for (const size of [64, 4096]) {
      for (const qos of [0, 1, 2] as const) {
        const rate = Math.round(RATES[size]![qos] * rateScale)
        cases.push({
          id: `${protocolVersion === 5 ? "v5 " : ""}QoS ${qos}, ${sizeLabel(size)}`,
          protocolVersion,
          qos,
          size,
          rate,
          warmup: Math.round(rate * warmupSeconds),
          count: Math.round(rate * measuredSeconds),
          window: 1000
        })
      }
    }
  }
  return cases
}

/**
 * Milliseconds on CLOCK_MONOTONIC, which every process on the machine shares (`process.hrtime`), read
 * through `performance.now()` (no allocation) plus an offset calibrated once per process. The publisher
 * stamps each payload with it, the subscriber subtracts it from its own reading on receipt.
 * (`performance.timeOrigin + performance.now()` is the wall clock sampled at process start: two
 * processes can disagree by the few microseconds between their samples.)
 */
const calibrate = (): number => {
  let best = Number.POSITIVE_INFINITY
  let offset = 0
  for (let i = 0; i < 20; i++) {
    const before = performance.now()
    const mono = Number(process.hrtime.bigint()) / 1e6
    const after = performance.now()
    if (after - before < best) {
      best = after - before
      offset = mono - (before + after) / 2
    }
  }
  return offset
}
const monoOffset = calibrate()
export const monoMs = (): number => performance.now() + monoOffset

const scratch = new Float64Array(1)
const scratchBytes = new Uint8Array(scratch.buffer)

/**
 * A fresh payload of `size` (>= 12) bytes per message: the sequence number as a big-endian uint32 in
 * bytes 0-3 (what {@link SequenceChecker} reads), the publish time ({@link monoMs}, a float64 in this
 * machine's byte order) in bytes 4-11. Stamped when the library's publish is called.
 */
export const makeStampedPayload = (size: number): ((seq: number) => Buffer) => {
  const template = Buffer.alloc(size, 0x78) // "x"
  return (seq) => {
    const buffer = Buffer.allocUnsafe(size)
    template.copy(buffer)
    buffer.writeUInt32BE(seq >>> 0, 0)
    scratch[0] = monoMs()
    buffer.set(scratchBytes, 4)
    return buffer
  }
}

const readStamp = (payload: Uint8Array): number => {
  for (let i = 0; i < 8; i++) scratchBytes[i] = payload[4 + i]!
  return scratch[0]!
}

/** `process.cpuUsage()` difference, microseconds. */
export interface CpuTime {
  readonly userUs: number
  readonly systemUs: number
}

const cpuSince = (start: NodeJS.CpuUsage): CpuTime => {
  const d = process.cpuUsage(start)
  return { userUs: d.user, systemUs: d.system }
}

/** What the publisher measured over its steady-state window. */
export interface PublisherReport {
  /** Measured messages published (and, at QoS 1/2, acknowledged). */
  readonly messages: number
  readonly cpu: CpuTime
  /** From the first measured batch to the completion of the last publish. */
  readonly wallMs: number
  /** messages / wallMs: the offered rate if the publisher kept up. */
  readonly achievedRate: number
  readonly batches: number
  readonly largestBatch: number
}

/**
 * Decides how many messages to publish now. Call {@link take} once per tick; it returns how many of
 * the next sequence numbers are due by the clock (catching up when a tick came late), as long as at
 * most `window` publishes are in flight; the publisher starts them without waiting for earlier ones
 * and calls {@link done} when a batch completes. So the batch size follows the clock alone, never the
 * library's own latency (waiting for each batch's acknowledgements would hand a slower library larger,
 * cheaper batches). The warm-up and the measured window are paced separately: when the warm-up is all
 * published and completed, the next `take` starts the measured window (restarts the clock and samples
 * `process.cpuUsage()`), so a slow warm-up never leaves a burst of overdue messages.
 */
export class Pacer {
  readonly #case: CpuCase
  readonly #total: number
  /** Next sequence number to publish. */
  next = 0
  /** Publishes started and not yet completed. */
  inFlight = 0
  #phaseStart = 0
  #phaseBase = 0
  #measuring = false
  #cpuStart: NodeJS.CpuUsage | undefined
  #wallStart = 0
  batches = 0
  largestBatch = 0

  constructor(c: CpuCase) {
    this.#case = c
    this.#total = c.warmup + c.count
  }

  /** Starts the clock (the warm-up, or the measured window when there is no warm-up). */
  begin(): void {
    this.#phaseStart = performance.now()
    this.#phaseBase = 0
    if (this.#case.warmup === 0) this.#startMeasuring(this.#phaseStart)
  }

  get allTaken(): boolean {
    return this.next >= this.#total
  }

  #startMeasuring(now: number): void {
    this.#measuring = true
    this.#phaseStart = now
    this.#phaseBase = this.#case.warmup
    this.#wallStart = now
    this.#cpuStart = process.cpuUsage()
  }

  /** How many messages to publish now, starting at `next` (which it advances); 0 if none is due yet. */
  take(): number {
    let now = performance.now()
    if (!this.#measuring && this.next >= this.#case.warmup) {
      if (this.inFlight > 0) return 0 // the warm-up's last publishes are not complete yet
      this.#startMeasuring(now)
      now = this.#phaseStart
    }
    const due = this.#phaseBase + Math.floor(((now - this.#phaseStart) * this.#case.rate) / 1000) + 1
    const limit = Math.min(due, this.#measuring ? this.#total : this.#case.warmup, this.next + this.#case.window - this.inFlight)
    const n = Math.max(0, limit - this.next)
    this.next += n
    this.inFlight += n
    if (n > 0 && this.#measuring) {
      this.batches++
      if (n > this.largestBatch) this.largestBatch = n
    }
    return n
  }

  /** `n` publishes (one batch) completed. */
  done(n: number): void {
    this.inFlight -= n
  }

  /** All published and completed. */
  get finished(): boolean {
    return this.allTaken && this.inFlight === 0
  }

  /** Call when the last publish completed: ends the measured window. */
  finish(): PublisherReport {
    const cpu = cpuSince(this.#cpuStart ?? process.cpuUsage())
    const wallMs = performance.now() - this.#wallStart
    return {
      messages: this.#case.count,
      cpu,
      wallMs,
      achievedRate: (this.#case.count / wallMs) * 1000,
      batches: this.batches,
      largestBatch: this.largestBatch
    }
  }
}

export interface LatencySummary {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

/** What the subscriber measured over its steady-state window. */
export interface SubscriberReport {
  /** Measured messages received (distinct sequence numbers of the measured window). */
  readonly messages: number
  readonly cpu: CpuTime
  /** From the arrival of the first measured message to the last (or to the harness's stop). */
  readonly wallMs: number
  /** messages / wallMs. */
  readonly receiveRate: number
  /** Round trip publish call → subscriber's callback, ms, over the measured messages received. */
  readonly latency: LatencySummary
  readonly verification: Verification
}

/**
 * The subscriber's side: checks every sequence number (all of warm-up and measured window exactly
 * once), records the latency of each measured message, and samples `process.cpuUsage()` when the first
 * measured message arrives and when the last one completes the set.
 */
export class ReceiveMeter {
  readonly #case: CpuCase
  readonly #checker: SequenceChecker
  readonly #latencies: Float64Array
  #measured = 0
  #cpuStart: NodeJS.CpuUsage | undefined
  #wallStart = 0
  #report: SubscriberReport | undefined
  #onDone: ((report: SubscriberReport) => void) | undefined

  constructor(c: CpuCase, onDone: (report: SubscriberReport) => void) {
    this.#case = c
    this.#checker = new SequenceChecker(c.warmup + c.count, c.size)
    this.#latencies = new Float64Array(c.count)
    this.#onDone = onDone
  }

  /** One message's payload, as the library hands it to the application. */
  add(payload: Uint8Array): void {
    const now = monoMs()
    const seq = payload.length >= 4 ? readSeq(payload) : -1
    const warmup = this.#case.warmup
    if (this.#cpuStart === undefined && seq >= warmup && seq < warmup + this.#case.count) {
      this.#cpuStart = process.cpuUsage()
      this.#wallStart = performance.now()
    }
    const before = this.#checker.distinct
    const completed = this.#checker.add(payload)
    if (this.#checker.distinct > before && seq >= warmup) {
      this.#latencies[this.#measured++] = now - readStamp(payload)
    }
    if (completed) this.finish()
  }

  /** Ends the window now (normally when the set is complete; else on the harness's stop, flagged). */
  finish(): SubscriberReport {
    if (this.#report !== undefined) return this.#report
    const cpu = this.#cpuStart === undefined ? { userUs: 0, systemUs: 0 } : cpuSince(this.#cpuStart)
    const wallMs = this.#cpuStart === undefined ? 0 : performance.now() - this.#wallStart
    const sorted = this.#latencies.subarray(0, this.#measured).sort()
    const at = (p: number) =>
      sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
    this.#report = {
      messages: this.#measured,
      cpu,
      wallMs,
      receiveRate: wallMs > 0 ? (this.#measured / wallMs) * 1000 : 0,
      latency: { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: at(100) },
      verification: this.#checker.verification()
    }
    const done = this.#onDone
    this.#onDone = undefined
    done?.(this.#report)
    return this.#report
  }
}

export type Role = "pub" | "sub"

/**
 * `pacer`: the publisher's loop without any client (payloads built and dropped, each batch completed
 * on a microtask): what the harness itself costs per message, included in both libraries' publisher
 * figures (timer wake-ups, payload buffers, time stamps).
 */
export type CpuLibrary = Library | "pacer"

/** What the harness passes to a worker (argv[2], JSON). */
export interface CpuWorkerInput {
  readonly library: CpuLibrary
  readonly role: Role
  readonly bench: CpuCase
  readonly url: string
  readonly topic: string
  readonly clientId: string
  /** MQTT.js only: turn Nagle's algorithm off on the client's socket, as our client does. */
  readonly noDelay: boolean
  /** `--profile`: write a V8 CPU profile of the worker from `ready` to its report here. */
  readonly profilePath?: string
}

/** Harness → worker. `start`: the publisher begins; `stop`: the subscriber reports what it has. */
export type ToWorker = { readonly type: "start" } | { readonly type: "stop" }

/** Worker → harness. */
export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "pub"; readonly report: PublisherReport }
  | { readonly type: "sub"; readonly report: SubscriberReport }
  | { readonly type: "error"; readonly error: string }

/** The hooks a library's publisher or subscriber gets from the worker. */
export interface RoleHooks {
  /** Connected (and subscribed, for the subscriber). */
  readonly ready: () => void
  /** Publisher: resolves when the harness says start. Subscriber: resolves on the harness's stop. */
  readonly signal: Promise<void>
}

/** µs of CPU (user + system) per message. */
export const usPerMessage = (cpu: CpuTime, messages: number): number => messages > 0 ? (cpu.userUs + cpu.systemUs) / messages : Number.NaN

/** The `pacer` pseudo-library's publisher: the loop of bench/cpu-mqttjs.ts with no client behind it. */
export const pacerOnly = async (c: CpuCase, hooks: RoleHooks, tickMs: number): Promise<PublisherReport> => {
  hooks.ready()
  await hooks.signal
  const pacer = new Pacer(c)
  const payload = makeStampedPayload(c.size)
  let bytes = 0
  pacer.begin()
  while (!pacer.finished) {
    const from = pacer.next
    const n = pacer.take()
    for (let seq = from; seq < from + n; seq++) bytes += payload(seq).length
    if (n > 0) queueMicrotask(() => pacer.done(n))
    await new Promise<void>((resolve) => setTimeout(resolve, tickMs))
  }
  const report = pacer.finish()
  if (bytes === 0) throw new Error("no payload built")
  return report
}
