/**
 * The CPU-per-message roles with MQTT.js 5 (callback API), the same loop as bench/cpu-ours.ts: every
 * tick (`setTimeout`) the publisher publishes the due batch, counting the batch's callbacks without
 * waiting for them (see `Pacer`); the subscriber takes messages from the `message` event. Clients come from
 * bench/mqttjs.ts; `noDelay` turns Nagle's algorithm off on their sockets (see {@link setNoDelay}).
 */
import type { MqttClient } from "mqtt"
import type { Socket } from "node:net"
import { type CpuCase, makeStampedPayload, Pacer, TICK_MS, type PublisherReport, ReceiveMeter, type RoleHooks, type SubscriberReport } from "./cpu-common.ts"
import { connectClient, subscribe } from "./mqttjs.ts"


/**
 * MQTT.js leaves Nagle's algorithm on (`net.createConnection` without `noDelay`); our client sets
 * `noDelay: true`. Unless `--mqttjs-nagle`, the harness turns it off for MQTT.js too, so both put the
 * same segments on the wire: with Nagle, a paced publisher's small writes wait for the broker's
 * (delayed) ACK, ~20 ms of round trip at 5k msg/s, and arrive coalesced, which makes the subscriber's
 * work per message cheaper at the cost of that latency.
 */
const setNoDelay = (client: MqttClient): void => {
  ;(client.stream as unknown as Socket).setNoDelay(true)
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const publishBatch = (client: MqttClient, topic: string, payload: (seq: number) => Buffer, options: { qos: 0 | 1 | 2 }, from: number, n: number) =>
  new Promise<void>((resolve, reject) => {
    let left = n
    const onPublished = (error?: Error) => {
      if (error !== undefined && error !== null) reject(error)
      else if (--left === 0) resolve()
    }
    for (let seq = from; seq < from + n; seq++) client.publish(topic, payload(seq), options, onPublished)
  })

export const publisher = async (
  c: CpuCase,
  url: string,
  topic: string,
  clientId: string,
  hooks: RoleHooks,
  noDelay: boolean
): Promise<PublisherReport> => {
  const client = await connectClient(url, clientId, c.protocolVersion)
  if (noDelay) setNoDelay(client)
  hooks.ready()
  await hooks.signal
  const pacer = new Pacer(c)
  const payload = makeStampedPayload(c.size)
  const options = { qos: c.qos }
  let failure: Error | undefined
  pacer.begin()
  while (!pacer.finished && failure === undefined) {
    const from = pacer.next
    const n = pacer.take()
    if (n > 0) {
      publishBatch(client, topic, payload, options, from, n).then(
        () => pacer.done(n),
        (error: Error) => { failure ??= error }
      )
    }
    await sleep(TICK_MS)
  }
  if (failure !== undefined) throw failure
  const report = pacer.finish()
  await client.endAsync()
  return report
}

export const subscriber = async (
  c: CpuCase,
  url: string,
  topic: string,
  clientId: string,
  hooks: RoleHooks,
  noDelay: boolean
): Promise<SubscriberReport> => {
  const client = await connectClient(url, clientId, c.protocolVersion)
  if (noDelay) setNoDelay(client)
  let resolveDone: (report: SubscriberReport) => void = () => {}
  const done = new Promise<SubscriberReport>((resolve) => { resolveDone = resolve })
  const meter = new ReceiveMeter(c, (report) => resolveDone(report))
  client.on("message", (_topic, payload) => { meter.add(payload) })
  await subscribe(client, topic, c.qos)
  hooks.ready()
  void hooks.signal.then(() => meter.finish())
  const report = await done
  await client.endAsync()
  return report
}
