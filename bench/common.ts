/**
 * Shared by the harness and the workers: case definitions, payloads, sequence verification and the
 * memory sampler. No dependency on either MQTT library.
 */

export type Library = "ours" | "mqttjs"
export type QoS = 0 | 1 | 2
/** 4: MQTT 3.1.1, 5: MQTT 5.0; both libraries are configured with the same value. */
export type ProtocolVersion = 4 | 5

export interface ThroughputCase {
  readonly kind: "throughput"
  readonly id: string
  readonly protocolVersion: ProtocolVersion
  readonly qos: QoS
  readonly size: number
  readonly count: number
  /** Publishes in flight at once (same value for both libraries). */
  readonly window: number
}

/**
 * Round trips run one after another: `warmup` discarded, then `samples` right after connecting
 * ("first": JIT compilation of the library still competes for the CPU), then `samples` more
 * ("steady": the library's code is compiled; the main p50/p99).
 */
export interface LatencyCase {
  readonly kind: "latency"
  readonly id: string
  readonly protocolVersion: ProtocolVersion
  readonly qos: QoS
  readonly samples: number
  readonly warmup: number
}

/** Total round trips of a latency case. */
export const latencyRounds = (c: LatencyCase): number => c.warmup + 2 * c.samples

/** p50/p99 of the steady window (and p90/p95/p99.9/max), `firstP50`/`firstP99` of the first window. */
export const latencyMetrics = (c: LatencyCase, rounds: ReadonlyArray<number>): Record<string, number> => {
  const first = rounds.slice(c.warmup, c.warmup + c.samples).sort((a, b) => a - b)
  const steady = rounds.slice(c.warmup + c.samples).sort((a, b) => a - b)
  return {
    p50: percentile(steady, 50),
    p90: percentile(steady, 90),
    p95: percentile(steady, 95),
    p99: percentile(steady, 99),
    p999: percentile(steady, 99.9),
    max: steady[steady.length - 1] ?? Number.NaN,
    firstP50: percentile(first, 50),
    firstP99: percentile(first, 99)
  }
}

export interface ConnectCase {
  readonly kind: "connect"
  readonly id: string
  readonly protocolVersion: ProtocolVersion
  readonly clients: number
  /** Topic holding a retained message (published by the harness before the run). */
  readonly topic: string
}

export type BenchCase = ThroughputCase | LatencyCase | ConnectCase

/** What the harness passes to a worker (argv[2], JSON). */
export interface WorkerInput {
  readonly library: Library
  readonly bench: BenchCase
  readonly url: string
  readonly runId: string
  readonly timeoutMs: number
  /** Write a .cpuprofile of the case (only the measured part) here. */
  readonly profilePath?: string
}

export interface Verification {
  readonly expected: number
  readonly received: number
  readonly distinct: number
  readonly duplicates: number
  readonly outOfOrder: number
  readonly badPayloads: number
  readonly complete: boolean
}

/** What a worker sends back (IPC). */
export interface WorkerOutput {
  readonly ok: boolean
  readonly error?: string
  /** throughput: msg/s; latency: p50/p99 ms; connect: total ms (and p50 per client). */
  readonly metrics: Record<string, number>
  readonly verification?: Verification
  readonly peakRssMB: number
  readonly peakHeapMB: number
  readonly baselineRssMB: number
  /** heapUsed after loading the library and a full gc, before the case starts. */
  readonly baselineHeapMB: number
  readonly durationMs: number
}

export const MB = 1024 * 1024

/** A fresh payload of `size` bytes carrying `seq` as a big-endian uint32 in its first 4 bytes. */
export const makePayloadFactory = (size: number): ((seq: number) => Buffer) => {
  const template = Buffer.alloc(size, 0x78) // "x"
  return (seq) => {
    const buffer = Buffer.allocUnsafe(size)
    template.copy(buffer)
    buffer.writeUInt32BE(seq >>> 0, 0)
    return buffer
  }
}

export const readSeq = (payload: Uint8Array): number =>
  ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0

/** Counts what arrives and checks the sequence numbers: every one of 0..expected-1 exactly once. */
export class SequenceChecker {
  readonly expected: number
  readonly size: number
  readonly #seen: Uint8Array
  received = 0
  distinct = 0
  duplicates = 0
  outOfOrder = 0
  badPayloads = 0
  #last = -1
  lastAt = 0
  #onComplete: ((at: number) => void) | undefined

  constructor(expected: number, size: number, onComplete?: (at: number) => void) {
    this.expected = expected
    this.size = size
    this.#seen = new Uint8Array(expected)
    this.#onComplete = onComplete
  }

  /** Returns true when this message completed the set. */
  add(payload: Uint8Array): boolean {
    this.received++
    if (payload.length !== this.size) {
      this.badPayloads++
      return false
    }
    const seq = readSeq(payload)
    if (seq >= this.expected) {
      this.badPayloads++
      return false
    }
    if (this.#seen[seq] === 1) {
      this.duplicates++
      return false
    }
    this.#seen[seq] = 1
    if (seq < this.#last) this.outOfOrder++
    this.#last = seq
    this.distinct++
    if (this.distinct === this.expected) {
      this.lastAt = performance.now()
      const done = this.#onComplete
      this.#onComplete = undefined
      done?.(this.lastAt)
      return true
    }
    return false
  }

  verification(): Verification {
    return {
      expected: this.expected,
      received: this.received,
      distinct: this.distinct,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      badPayloads: this.badPayloads,
      complete: this.distinct === this.expected && this.badPayloads === 0
    }
  }
}

/** Samples `process.memoryUsage()` every 10 ms; keeps the peaks. */
export const startMemorySampler = () => {
  let peakRss = 0
  let peakHeap = 0
  const sample = () => {
    const m = process.memoryUsage()
    if (m.rss > peakRss) peakRss = m.rss
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed
  }
  sample()
  const timer = setInterval(sample, 10)
  return {
    stop: () => {
      clearInterval(timer)
      sample()
      return { peakRssMB: peakRss / MB, peakHeapMB: peakHeap / MB }
    }
  }
}

export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}

export const sizeLabel = (size: number): string => size >= 1024 ? `${size / 1024} KiB` : `${size} B`

/**
 * What mosquitto prints as `(pN, ...)` in its "New client connected" line for a protocol version
 * (its internal protocol enum: 2 is MQTT 3.1.1, 5 is MQTT 5.0).
 */
export const mosquittoProtocolTag = (version: ProtocolVersion): string => version === 5 ? "p5" : "p2"

/**
 * The cases, in run order. `scale` divides the message counts (`--quick`: 10). The throughput cases
 * run under MQTT 3.1.1 (`throughput QoS 1, 64 B`), then the same payload sizes and QoS levels under
 * MQTT 5.0 (`throughput v5 QoS 1, 64 B`); the round trip and the connect storm are 3.1.1.
 */
export const makeCases = (scale: number, runId: string): Array<BenchCase> => {
  const cases: Array<BenchCase> = []
  const plan: Array<[QoS, number, number]> = [
    [0, 200_000, 1000],
    [1, 50_000, 100],
    [2, 20_000, 100]
  ]
  for (const protocolVersion of [4, 5] as const) {
    for (const size of [64, 4096]) {
      for (const [qos, count, window] of plan) {
        cases.push({
          kind: "throughput",
          id: `throughput${protocolVersion === 5 ? " v5" : ""} QoS ${qos}, ${sizeLabel(size)}`,
          protocolVersion,
          qos,
          size,
          count: Math.max(1, Math.round(count / scale)),
          window
        })
      }
    }
  }
  cases.push({
    kind: "latency",
    id: "round trip QoS 0",
    protocolVersion: 4,
    qos: 0,
    samples: Math.max(100, Math.round(5000 / scale)),
    warmup: 200
  })
  cases.push({ kind: "connect", id: "100 clients connect+subscribe+first message", protocolVersion: 4, clients: 100, topic: `bench/storm/${runId}` })
  return cases
}
