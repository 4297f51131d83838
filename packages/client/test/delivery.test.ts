/**
 * Delivery guarantees against a real mosquitto under failures (issue 5): connections cut at random and at
 * every step of the QoS 2 handshake, an offline persistent subscriber, broker restarts (SIGTERM with
 * persistence, SIGKILL) and a client crash in the middle of a QoS 2 flow with the file session store.
 *
 * Every test is bounded: each publish runs under a timeout and each test has its own vitest timeout.
 * The 100,000-message memory test lives in `delivery.memory.test.ts` (its own process, for a clean heap).
 */
import { assert, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schedule, Scope, Stream, SubscriptionRef } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as FileSessionStore from "../src/FileSessionStore.ts"
import {
  CutProxy,
  type CutDirection,
  describeMosquitto,
  Mosquitto,
  type MosquittoBroker,
  mosquittoPub,
  type PacketTypeName
} from "./brokers/index.ts"
import { crashSteps, crashThenFinish } from "./sessionStore/crash.ts"
import { awaitStatus, byTopic, client, clientIn, range, record, tempDir, uniqueId, waitUntil } from "./util.ts"

/** Reconnect fast: the tests cut connections every few hundred milliseconds. */
const fast = { reconnect: Schedule.spaced("50 millis"), connectTimeout: "3 seconds", keepAlive: 10 } as const

/** Missing sequence numbers (0..n-1) and duplicates of one topic's list. */
const audit = (seqs: ReadonlyArray<number> | undefined, n: number) => {
  const counts = new Map<number, number>()
  for (const s of seqs ?? []) counts.set(s, (counts.get(s) ?? 0) + 1)
  const missing = range(n).filter((i) => !counts.has(i))
  const duplicates = [...counts].filter(([, c]) => c > 1).map(([s]) => s)
  return { missing, duplicates }
}

const countLog = (broker: MosquittoBroker, match: (line: string) => boolean) =>
  Effect.map(broker.logs, (lines) => lines.filter(match).length)

describeMosquitto("delivery under failures (mosquitto)", () => {
  // --- 0. the proxy's packet-aware and random cuts ------------------------------------------------
  it.live("CutProxy: cutAfterPacket cuts right after the Nth packet of a type; cutEachAfter cuts at random", () =>
    Effect.gen(function*() {
      const broker = yield* Mosquitto.start()
      const proxy = yield* CutProxy.start({ target: broker.port })
      const mqtt = yield* client(proxy.url, { ...fast, clientId: uniqueId("proxy-self"), cleanSession: false })
      yield* proxy.cutAfterPacket({ type: "PUBACK", direction: "down", nth: 3 })
      for (const i of range(2)) yield* mqtt.publish("self/x", `${i}`, { qos: 1 })
      assert.strictEqual(proxy.statsNow().cuts, 0)
      yield* mqtt.publish("self/x", "2", { qos: 1 })
      yield* waitUntil(() => proxy.statsNow().cuts === 1, 2000, () => JSON.stringify(proxy.statsNow()))
      assert.strictEqual(proxy.statsNow().packetCuts, 1)
      assert.strictEqual(proxy.packetCount("PUBACK", "down"), 3)
      assert.strictEqual(proxy.packetCount("PUBLISH", "up"), 3)
      // the client reconnects through the proxy; the rule was one-shot
      yield* waitUntil(() => proxy.statsNow().connections >= 2, 3000, () => JSON.stringify(proxy.statsNow()))
      yield* awaitStatus(mqtt, (s) => s._tag === "Connected")
      yield* mqtt.publish("self/x", "3", { qos: 1 }).pipe(Effect.timeout("3 seconds"))
      // random cuts: several connections die within a second, then stop once cleared
      // asserted on the event (four more cuts), not on how many fit in a fixed time
      const cutsBefore = proxy.statsNow().cuts
      yield* proxy.cutEachAfter(50, 150)
      yield* waitUntil(() => proxy.statsNow().cuts >= cutsBefore + 4, 15_000, () => JSON.stringify(proxy.statsNow()))
      yield* proxy.clearCut
      yield* awaitStatus(mqtt, (s) => s._tag === "Connected")
      yield* mqtt.publish("self/x", "4", { qos: 1 }).pipe(Effect.timeout("3 seconds"))
      const before = proxy.statsNow().cuts
      yield* Effect.sleep("300 millis")
      assert.strictEqual(proxy.statsNow().cuts, before)
    }), 20_000)

  // --- 1. every connection cut after a random amount of traffic ----------------------------------
  /**
   * Publisher and persistent subscriber, each behind its own proxy that cuts every connection after a random
   * amount of what the client sent (often mid-packet). `TOPICS` topics publish in parallel, each
   * sequentially (so per-topic order is defined).
   *
   * The cuts are driven by bytes, not by a timer (issue 11, item 10): a timer gave a fast idle machine only
   * two cuts before all 10,000 messages were through, and a busy one failed differently. Only the client's
   * own bytes count: mosquitto re-sends a persistent session's whole backlog right after CONNACK, so a budget
   * that counted the broker's bytes could end every connection inside that burst, before any acknowledgement
   * went up, and no client could get further. Each message costs the publisher at least an 11-byte PUBLISH
   * and the subscriber at least a 4-byte PUBACK, so the number of cuts is bounded below on any machine.
   */
  const PUB_CUT_BYTES = [2_000, 12_000] as const
  const SUB_CUT_BYTES = [400, 2_400] as const
  const TOTAL = 10_000
  const TOPICS = 10
  const randomCuts = (qos: 1 | 2) =>
    Effect.gen(function*() {
      const perTopic = TOTAL / TOPICS
      const broker = yield* Mosquitto.start({ extraConfig: "max_queued_messages 100000" })
      const subProxy = yield* CutProxy.start({ target: broker.port })
      const pubProxy = yield* CutProxy.start({ target: broker.port })
      const sub = yield* client(subProxy.url, { ...fast, clientId: uniqueId(`rc${qos}-sub`), cleanSession: false })
      const subscription = yield* sub.subscription("rc/#", { qos })
      const got = yield* record(subscription.messages)
      const pub = yield* client(pubProxy.url, { ...fast, clientId: uniqueId(`rc${qos}-pub`), cleanSession: false })
      yield* subProxy.cutEachAfterBytes(SUB_CUT_BYTES[0], SUB_CUT_BYTES[1], "up")
      yield* pubProxy.cutEachAfterBytes(PUB_CUT_BYTES[0], PUB_CUT_BYTES[1], "up")
      const t0 = Date.now()
      const outcomes = yield* Effect.forEach(range(TOPICS), (t) =>
        Effect.forEach(range(perTopic), (i) =>
          pub.publish(`rc/${t}`, `${i}`, { qos }).pipe(Effect.timeout("20 seconds"), Effect.exit), { discard: false }), {
        concurrency: "unbounded"
      })
      const published = Date.now() - t0
      const failures = outcomes.flat().filter(Exit.isFailure)
      assert.strictEqual(failures.length, 0, `publishes failed: ${failures.slice(0, 3).map(String).join("; ")}`)
      const unique = () => new Set(got.map((g) => `${g.topic}#${g.text}`)).size
      yield* waitUntil(() => unique() >= TOTAL, 40_000, () =>
        `${unique()}/${TOTAL} distinct messages arrived; sub proxy ${JSON.stringify(subProxy.statsNow())}, ` +
        `pub proxy ${JSON.stringify(pubProxy.statsNow())}`)
      const arrived = Date.now() - t0
      // stop the cuts, let a late duplicate show up
      yield* subProxy.clearCut
      yield* pubProxy.clearCut
      yield* Effect.sleep("500 millis")
      const seqs = byTopic(got)
      let duplicates = 0
      for (const t of range(TOPICS)) {
        const { missing, duplicates: dups } = audit(seqs.get(`rc/${t}`), perTopic)
        assert.deepStrictEqual(missing, [], `rc/${t}: missing`)
        duplicates += dups.length
        if (qos === 2) {
          assert.deepStrictEqual(dups, [], `rc/${t}: QoS 2 duplicates`)
          assert.deepStrictEqual(seqs.get(`rc/${t}`), range(perTopic), `rc/${t}: QoS 2 order`)
        }
      }
      const cuts = subProxy.statsNow().cuts + pubProxy.statsNow().cuts
      console.log(
        `random cuts, QoS ${qos}: ${TOTAL} messages on ${TOPICS} topics; published in ${published} ms, all arrived ` +
          `in ${arrived} ms; ${got.length} deliveries (${duplicates} duplicated seq); connections cut: ${cuts} ` +
          `(sub ${subProxy.statsNow().connections} connections, pub ${pubProxy.statsNow().connections})`
      )
      // at least 40 KB of PUBACKs and 110 KB of PUBLISH over budgets of at most 2.4 and 12 KB: at least 16
      // and 9 cuts, whatever the machine's speed
      assert.isAtLeast(subProxy.statsNow().cuts, Math.floor((TOTAL * 4) / SUB_CUT_BYTES[1]), "the subscriber's connections were cut")
      assert.isAtLeast(pubProxy.statsNow().cuts, Math.floor((TOTAL * 11) / PUB_CUT_BYTES[1]), "the publisher's connections were cut")
    })

  it.live(`random cuts after 0.4-12 KB: ${TOTAL} QoS 1 messages all arrive at least once`, () => randomCuts(1), 90_000)
  it.live(`random cuts after 0.4-12 KB: ${TOTAL} QoS 2 messages arrive exactly once, in order per topic`, () => randomCuts(2), 90_000)

  // --- 3. an offline persistent subscriber ---------------------------------------------------------
  it.live("persistent subscriber offline (layer closed) while QoS 1/2 are published: all queued messages arrive, QoS 2 once", () =>
    Effect.gen(function*() {
      const N = 500
      const CLI = 5
      const broker = yield* Mosquitto.start({ extraConfig: "max_queued_messages 10000" })
      const subId = uniqueId("offline-sub")
      const subOptions = { ...fast, clientId: subId, cleanSession: false, unmatchedBufferSize: 5000 } as const
      // first run: subscribe, then go away (the layer's scope closes: DISCONNECT, the broker keeps the session)
      const first = yield* Scope.make()
      const sub1 = yield* clientIn(first, { ...subOptions, url: broker.url })
      const warm = yield* Effect.scoped(Effect.gen(function*() {
        const subscription = yield* sub1.subscription("off/#", { qos: 2 })
        const got = yield* record(subscription.messages)
        yield* mosquittoPub({ port: broker.port, topic: "off/warm", message: "0", qos: 1 })
        yield* waitUntil(() => got.length === 1, 5000, () => JSON.stringify(got))
        return got.length
      }))
      assert.strictEqual(warm, 1)
      yield* Scope.close(first, Exit.void)

      // while it is away: our publisher (a QoS 1 and a QoS 2 topic in parallel) and mosquitto_pub
      const pub = yield* client(broker.url, { clientId: uniqueId("offline-pub") })
      yield* Effect.forEach([1, 2] as const, (qos) =>
        Effect.forEach(range(N), (i) => pub.publish(`off/q${qos}`, `${i}`, { qos }).pipe(Effect.timeout("10 seconds")), {
          discard: true
        }), { concurrency: 2, discard: true })
      for (const i of range(CLI)) yield* mosquittoPub({ port: broker.port, topic: "off/cli", message: `${i}`, qos: 2 })

      // back with the same client id: the broker sends what it queued right after CONNACK, before we
      // subscribe; those messages wait in the unmatched buffer for the first matching stream
      const sub2 = yield* client(broker.url, subOptions)
      assert.include(yield* SubscriptionRef.get(sub2.status), { _tag: "Connected", sessionPresent: true })
      const all = yield* record(sub2.messages) // may miss the first ones: they can arrive before this line
      const subscription = yield* sub2.subscription("off/#", { qos: 2 })
      const got = yield* record(subscription.messages)
      const expected = 2 * N + CLI
      const distinct = () => new Set(got.map((g) => `${g.topic}#${g.text}`)).size
      yield* waitUntil(() => distinct() >= expected, 20_000, () => `${distinct()}/${expected} distinct messages arrived`)
      yield* Effect.sleep("300 millis")
      const seqs = byTopic(got)
      assert.deepStrictEqual(audit(seqs.get("off/q1"), N).missing, [], "QoS 1 missing")
      assert.deepStrictEqual(audit(seqs.get("off/q2"), N), { missing: [], duplicates: [] }, "QoS 2")
      assert.deepStrictEqual(seqs.get("off/q2"), range(N), "QoS 2 in order")
      assert.deepStrictEqual(seqs.get("off/cli"), range(CLI), "mosquitto_pub QoS 2")
      assert.isUndefined(seqs.get("off/warm"), "the warm-up message was acknowledged before: not re-delivered")
      assert.isAtMost(all.length, got.length)
      console.log(
        `offline subscriber: ${expected} queued messages, ${got.length} delivered to the stream, ` +
          `${all.length} seen on mqtt.messages after it was opened`
      )
    }), 60_000)

  // --- 4. the broker stopped (SIGTERM, persistence) or killed (SIGKILL) mid-stream ---------------------
  const restarts = (signal: "SIGTERM" | "SIGKILL") =>
    Effect.gen(function*() {
      const N = 1000 // per QoS
      const broker = yield* Mosquitto.start({ persistence: true, extraConfig: "max_queued_messages 100000" })
      const sub = yield* client(broker.url, { ...fast, clientId: uniqueId(`${signal}-sub`), cleanSession: false })
      const subscription = yield* sub.subscription("pr/#", { qos: 2 })
      const got = yield* record(subscription.messages)
      const pub = yield* client(broker.url, { ...fast, clientId: uniqueId(`${signal}-pub`), cleanSession: false })
      const t0 = Date.now()
      const timeline: Array<string> = []
      for (const [name, c] of [["pub", pub], ["sub", sub]] as const) {
        yield* SubscriptionRef.changes(c.status).pipe(
          Stream.runForEach((st) => Effect.sync(() => timeline.push(`${Date.now() - t0} ${name} ${st._tag} ${st._tag === "Disconnected" ? st.cause?.message : st._tag === "Connected" ? st.sessionPresent : ""} got=${got.length}`))),
          Effect.forkScoped({ startImmediately: true })
        )
      }
      const publisher = yield* Effect.forEach([1, 2] as const, (qos) =>
        Effect.forEach(range(N), (i) =>
          pub.publish(`pr/q${qos}`, `${i}`, { qos }).pipe(Effect.timeout("20 seconds"), Effect.exit)), {
        concurrency: 2
      }).pipe(Effect.forkChild({ startImmediately: true }))
      const downtimes: Array<number> = []
      for (const k of [1, 2]) {
        yield* waitUntil(() => got.length >= (2 * N * k) / 3, 20_000, () => `${got.length} received before stop ${k}`)
        const down = Date.now()
        timeline.push(`${down - t0} kill`)
        yield* broker.kill(signal)
        timeline.push(`${Date.now() - t0} killed`)
        yield* Effect.sleep("200 millis")
        yield* broker.restart
        timeline.push(`${Date.now() - t0} restarted`)
        yield* awaitStatus(pub, (s) => s._tag === "Connected", "10 seconds")
        yield* awaitStatus(sub, (s) => s._tag === "Connected", "10 seconds")
        downtimes.push(Date.now() - down)
      }
      // no publish hangs: each one settles (its own 20 s timeout bounds it)
      const outcomes = (yield* Fiber.join(publisher).pipe(Effect.timeout("45 seconds"))).flat()
      const published = Date.now() - t0
      if (published > 20_000) console.log(timeline.join("\n"))
      const failed = outcomes.filter(Exit.isFailure)
      const distinct = () => new Set(got.map((g) => `${g.topic}#${g.text}`)).size
      // wait for everything (SIGTERM), or until nothing more comes (SIGKILL may lose messages)
      let last = -1
      const deadline = Date.now() + 20_000
      while (distinct() < 2 * N && Date.now() < deadline && (signal === "SIGTERM" || got.length !== last)) {
        last = got.length
        yield* Effect.sleep("1 second")
      }
      yield* Effect.sleep("300 millis")
      const seqs = byTopic(got)
      const q1 = audit(seqs.get("pr/q1"), N)
      const q2 = audit(seqs.get("pr/q2"), N)
      console.log(
        `broker ${signal} + restart twice mid-stream (persistence on): ${2 * N} publishes settled in ${published} ms ` +
          `(${failed.length} failed), downtimes ${downtimes.join(", ")} ms; QoS 1: ${q1.missing.length} missing, ` +
          `${q1.duplicates.length} duplicated; QoS 2: ${q2.missing.length} missing, ${q2.duplicates.length} duplicated`
      )
      if (signal === "SIGKILL" && q1.missing.length + q2.missing.length + q2.duplicates.length > 0) {
        // a SIGKILLed broker can lose its last change even with autosave (see BROKERS.md): reported, not asserted
        const dupFlags = got.filter((g) => g.topic === "pr/q2" && q2.duplicates.includes(Number(g.text))).map((g) => `${g.text}:dup=${g.dup}`)
        console.log(`SIGKILL losses: QoS 1 missing ${JSON.stringify(q1.missing)}; QoS 2 missing ${JSON.stringify(q2.missing)}, duplicated ${JSON.stringify(dupFlags)}`)
      }
      assert.strictEqual(outcomes.length, 2 * N)
      if (signal === "SIGTERM") {
        assert.deepStrictEqual(failed.map(String), [], "every publish succeeded")
        assert.deepStrictEqual(q1.missing, [], "QoS 1 missing")
        assert.deepStrictEqual(q2, { missing: [], duplicates: [] }, "QoS 2")
      }
    })

  it.live("mosquitto (persistence) stopped with SIGTERM and restarted twice mid-stream: every QoS 1/2 message arrives, QoS 2 once", () =>
    restarts("SIGTERM"), 60_000)
  it.live("mosquitto (persistence) killed with SIGKILL and restarted twice mid-stream: reconnects, every publish settles", () =>
    restarts("SIGKILL"), 60_000)

  // --- 5. the client crashes mid-flow; the file store lets a new client finish it -----------------------
  for (const step of crashSteps) {
    const [type, direction] = step
    it.live(`file store: QoS 2 flow black-holed after ${type} goes ${direction}, client closed, a new client finishes it once`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("aimeqtt-store-")
        const { beforeCrash, afterRestart } = yield* crashThenFinish("crash", step, {
          build: (scope, options) => clientIn(scope, { ...fast, ...options }, dir),
          assertStored: (clientId, _topic, stage) =>
            Effect.sync(() => assert.include(Fs.readFileSync(Path.join(dir, FileSessionStore.fileName(clientId)), "utf8"), `"stage":"${stage}"`)),
          assertEmpty: (clientId) =>
            Effect.scoped(Effect.flatMap(FileSessionStore.make(dir).open(clientId), (store) => store.load)).pipe(
              Effect.map((left) => assert.deepStrictEqual(left, { outgoing: [], incoming: [] }))
            )
        })
        console.log(
          `file store, black hole after ${type} ${direction}: "once" delivered ${beforeCrash} time(s) before the ` +
            `crash, ${afterRestart} after the restart`
        )
      }), 30_000)
  }

  // --- 2. a cut at each step of the QoS 2 handshake ----------------------------------------------
  const publisherSteps: ReadonlyArray<readonly [PacketTypeName, CutDirection]> = [
    ["PUBLISH", "up"],
    ["PUBREC", "down"],
    ["PUBREL", "up"],
    ["PUBCOMP", "down"]
  ]
  for (const [type, direction] of publisherSteps) {
    it.live(`QoS 2, our client publishing: cut right after ${type} goes ${direction}: delivered exactly once`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        const proxy = yield* CutProxy.start({ target: broker.port })
        const sub = yield* client(broker.url, { clientId: uniqueId("hs-sub") })
        const subscription = yield* sub.subscription("hs/#", { qos: 2 })
        const got = yield* record(subscription.messages)
        const pub = yield* client(proxy.url, { ...fast, clientId: uniqueId("hs-pub"), cleanSession: false })
        yield* proxy.cutAfterPacket({ type, direction })
        yield* pub.publish("hs/a", "one", { qos: 2 }).pipe(Effect.timeout("10 seconds"))
        yield* waitUntil(() => proxy.statsNow().packetCuts === 1, 5000, () => JSON.stringify(proxy.statsNow()))
        yield* pub.publish("hs/a", "two", { qos: 2 }).pipe(Effect.timeout("10 seconds"))
        yield* waitUntil(() => got.some((g) => g.text === "two"), 10_000, () => JSON.stringify(got))
        yield* Effect.sleep("300 millis") // room for a late duplicate
        assert.deepStrictEqual(got.map((g) => g.text), ["one", "two"])
        assert.isAtLeast(proxy.statsNow().connections, 2, "the client reconnected after the cut")
        if (type === "PUBLISH") {
          // the PUBREC was lost: the client re-sent the PUBLISH with DUP and the broker did not deliver it twice
          assert.isAtLeast(yield* countLog(broker, (l) => /Received PUBLISH from hs-pub-\S+ \(d1, q2/.test(l)), 1)
        }
        if (type === "PUBREC") {
          // the client had PUBREC, so after the reconnect it sent PUBREL (not the PUBLISH again)
          assert.strictEqual(yield* countLog(broker, (l) => /Received PUBLISH from hs-pub-\S+ \(d1/.test(l)), 0)
        }
      }), 30_000)
  }

  const subscriberSteps: ReadonlyArray<readonly [PacketTypeName, CutDirection]> = [
    ["PUBLISH", "down"],
    ["PUBREC", "up"],
    ["PUBREL", "down"],
    ["PUBCOMP", "up"]
  ]
  for (const [type, direction] of subscriberSteps) {
    it.live(`QoS 2, our client subscribing: cut right after ${type} goes ${direction}: delivered exactly once`, () =>
      Effect.gen(function*() {
        const broker = yield* Mosquitto.start()
        const proxy = yield* CutProxy.start({ target: broker.port })
        const subId = uniqueId("hs-sub")
        const sub = yield* client(proxy.url, { ...fast, clientId: subId, cleanSession: false })
        const subscription = yield* sub.subscription("hs/#", { qos: 2 })
        const got = yield* record(subscription.messages)
        const pub = yield* client(broker.url, { clientId: uniqueId("hs-pub") })
        yield* proxy.cutAfterPacket({ type, direction })
        yield* pub.publish("hs/a", "one", { qos: 2 }).pipe(Effect.timeout("10 seconds"))
        yield* waitUntil(() => proxy.statsNow().packetCuts === 1, 5000, () => JSON.stringify(proxy.statsNow()))
        yield* awaitStatus(sub, (s) => s._tag === "Connected", "5 seconds")
        yield* pub.publish("hs/a", "two", { qos: 2 }).pipe(Effect.timeout("10 seconds"))
        yield* waitUntil(() => got.some((g) => g.text === "two"), 10_000, () => JSON.stringify(got))
        yield* Effect.sleep("300 millis")
        assert.deepStrictEqual(got.map((g) => g.text), ["one", "two"])
        assert.isAtLeast(proxy.statsNow().connections, 2, "the client reconnected after the cut")
        if (type === "PUBLISH") {
          // our PUBREC never reached the broker: it re-sent the PUBLISH (DUP), which the client did not deliver again
          assert.isAtLeast(yield* countLog(broker, (l) => l.includes(`Sending PUBLISH to ${subId} (d1, q2`)), 1)
        }
        if (type === "PUBREL") {
          assert.isAtLeast(yield* countLog(broker, (l) => l.includes(`Sending PUBREL to ${subId}`)), 2)
        }
      }), 30_000)
  }
})
