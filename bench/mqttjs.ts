/**
 * The same cases with MQTT.js 5 (callback API): publishes kept `window` in flight with the publish
 * callback, messages taken from the `message` event.
 */
import mqtt from "mqtt"
import type { MqttClient } from "mqtt"
import {
  type ConnectCase,
  type LatencyCase,
  latencyMetrics,
  latencyRounds,
  makePayloadFactory,
  percentile,
  type ProtocolVersion,
  SequenceChecker,
  type ThroughputCase
} from "./common.ts"
import type { CaseResult } from "./ours.ts"

export const connectClient = (url: string, clientId: string, protocolVersion: ProtocolVersion): Promise<MqttClient> =>
  new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, keepalive: 60, clean: true, protocolVersion, reconnectPeriod: 0, connectTimeout: 20_000 })
    const onError = (error: Error) => reject(error)
    client.once("error", onError)
    client.once("connect", () => {
      client.off("error", onError)
      resolve(client)
    })
  })

export const subscribe = (client: MqttClient, topic: string, qos: 0 | 1 | 2): Promise<void> =>
  new Promise((resolve, reject) => client.subscribe(topic, { qos }, (error) => error ? reject(error) : resolve()))

export const end = (client: MqttClient): Promise<void> => client.endAsync()

export const throughput = async (c: ThroughputCase, url: string, runId: string, timeoutMs: number): Promise<CaseResult> => {
  const topic = `bench/tp/${runId}`
  const subscriber = await connectClient(url, `mqttjs-sub-${runId}`, c.protocolVersion)
  const publisher = await connectClient(url, `mqttjs-pub-${runId}`, c.protocolVersion)
  let resolveDone: (at: number) => void = () => {}
  const done = new Promise<number>((resolve) => { resolveDone = resolve })
  const checker = new SequenceChecker(c.count, c.size, (at) => resolveDone(at))
  subscriber.on("message", (_topic, payload) => { checker.add(payload) })
  await subscribe(subscriber, topic, c.qos)
  const payload = makePayloadFactory(c.size)
  const options = { qos: c.qos }
  let failure: Error | undefined
  const start = performance.now()
  const published = new Promise<void>((resolve, reject) => {
    let next = 0
    let inflight = 0
    let pumping = false
    const onPublished = (error?: Error) => {
      if (error !== undefined && error !== null) {
        failure = error
        reject(error)
        return
      }
      inflight--
      if (next === c.count && inflight === 0) resolve()
      else pump()
    }
    const pump = () => {
      if (pumping) return
      pumping = true
      while (inflight < c.window && next < c.count) {
        const i = next++
        inflight++
        publisher.publish(topic, payload(i), options, onPublished)
      }
      pumping = false
    }
    pump()
  })
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref())
  await published
  const finished = await Promise.race([done, timeout])
  if (failure !== undefined) throw failure
  await Promise.all([end(publisher), end(subscriber)])
  return {
    metrics: { msgPerSec: finished === undefined ? 0 : (c.count / (finished - start)) * 1000, elapsedMs: (finished ?? performance.now()) - start },
    verification: checker.verification()
  }
}

export const latency = async (c: LatencyCase, url: string, runId: string): Promise<CaseResult> => {
  const topic = `bench/rtt/${runId}`
  const client = await connectClient(url, `mqttjs-rtt-${runId}`, c.protocolVersion)
  let waiting: ((at: number) => void) | undefined
  client.on("message", () => {
    const now = performance.now()
    const w = waiting
    waiting = undefined
    w?.(now)
  })
  await subscribe(client, topic, c.qos)
  const payload = makePayloadFactory(64)
  const rounds: Array<number> = []
  const options = { qos: c.qos }
  for (let i = 0; i < latencyRounds(c); i++) {
    const received = new Promise<number>((resolve) => { waiting = resolve })
    const start = performance.now()
    const published = new Promise<void>((resolve, reject) =>
      client.publish(topic, payload(i), options, (error) => error ? reject(error) : resolve())
    )
    await published
    const at = await received
    rounds.push(at - start)
  }
  await end(client)
  return { metrics: latencyMetrics(c, rounds) }
}

export const connect = async (c: ConnectCase, url: string, runId: string): Promise<CaseResult> => {
  const times: Array<number> = []
  const clients: Array<MqttClient> = []
  const start = performance.now()
  await Promise.all(Array.from({ length: c.clients }, (_, i) =>
    new Promise<void>((resolve, reject) => {
      const client = mqtt.connect(url, {
        clientId: `mqttjs-storm-${runId}-${i}`,
        keepalive: 60,
        clean: true,
        protocolVersion: c.protocolVersion,
        reconnectPeriod: 0,
        connectTimeout: 20_000
      })
      clients.push(client)
      client.once("error", reject)
      client.once("message", () => {
        times.push(performance.now() - start)
        resolve()
      })
      client.once("connect", () => client.subscribe(c.topic, { qos: 0 }, (error) => { if (error) reject(error) }))
    })))
  await Promise.all(clients.map(end))
  times.sort((a, b) => a - b)
  return { metrics: { totalMs: times[times.length - 1]!, p50Ms: percentile(times, 50) } }
}
