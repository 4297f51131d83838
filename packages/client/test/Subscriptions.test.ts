/**
 * Subscriptions: the one owner of subscription state (issue 11, part A). Plain values, no sockets:
 * examples for each fault of the issue, then a model-based property test over random interleavings of
 * stream start and end, `unsubscribe`, disconnect, reconnect with and without a session, SUBACK success
 * and refusal, and incoming messages.
 */
import { matches, matchingFilter, type QoS, type SubscriptionRequest } from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { type Route, Subscriptions, type SubscriptionsOptions } from "../src/Subscriptions.ts"

interface Msg {
  readonly topic: string
  readonly id: number
}

const make = (options: Partial<SubscriptionsOptions> = {}) =>
  new Subscriptions<string, Msg>({ persistent: false, unsubscribeOnEnd: true, unmatchedCapacity: 100, ...options })

const req = (filter: string, qos: QoS = 0): SubscriptionRequest => ({ filter, qos })
const delivered = (route: Route<string, Msg>): ReadonlyArray<string> => route._tag === "Deliver" ? [...route.streams].sort() : []

describe("streams and what the broker is asked", () => {
  it("a filter is subscribing until its SUBACK, then subscribed; the last stream's end makes it due for UNSUBSCRIBE", () => {
    const s = make()
    s.open("A", [req("a/#"), req("b")])
    s.open("B", [req("a/#"), req("c")])
    assert.strictEqual(s.stateOf("a/#"), "subscribing")
    s.subacked([req("a/#"), req("b")], [0, 0], "A")
    assert.strictEqual(s.stateOf("a/#"), "subscribed")
    s.close("A")
    assert.deepStrictEqual(s.takeReleased(), ["b"])
    assert.strictEqual(s.stateOf("a/#"), "subscribed")
    s.close("B")
    assert.deepStrictEqual(s.takeReleased().sort(), ["a/#", "c"])
    assert.deepStrictEqual(s.takeReleased(), [], "each UNSUBSCRIBE is due once")
  })

  it("closing twice, or an unknown stream, releases nothing", () => {
    const s = make()
    s.open("A", [req("a")])
    s.open("B", [req("a")])
    s.close("A")
    s.close("A")
    s.close("Z")
    assert.deepStrictEqual(s.takeReleased(), [])
    s.close("B")
    assert.deepStrictEqual(s.takeReleased(), ["a"])
  })

  it("a filter listed twice by one stream counts once", () => {
    const s = make()
    s.open("A", [req("a"), req("a")])
    s.close("A")
    assert.deepStrictEqual(s.takeReleased(), ["a"])
  })

  // Item 1: take(1) three times in a row. The old stream's deferred UNSUBSCRIBE overtook the new SUBSCRIBE.
  it("a stream that opens before the ended stream's UNSUBSCRIBE went out cancels it: no UNSUBSCRIBE overtakes the SUBSCRIBE", () => {
    const s = make()
    for (let round = 0; round < 3; round++) {
      s.open(`R${round}`, [req("t/x")])
      s.subacked([req("t/x")], [0], `R${round}`)
      s.close(`R${round}`)
      // the next round subscribes before the deferred UNSUBSCRIBE runs
      s.open(`R${round + 1}`, [req("t/x")])
      assert.deepStrictEqual(s.takeReleased(), [], `round ${round}`)
      s.close(`R${round + 1}`)
      s.open(`R${round + 10}`, [req("t/x")]) // and once more, the same way
      assert.deepStrictEqual(s.takeReleased(), [])
      s.close(`R${round + 10}`)
    }
    assert.deepStrictEqual(s.takeReleased(), ["t/x"])
  })

  it("without unsubscribeOnEnd nothing is ever due; the broker keeps the filter", () => {
    const s = make({ unsubscribeOnEnd: false, persistent: true })
    s.open("A", [req("a")])
    s.subacked([req("a")], [1], "A")
    s.close("A")
    assert.deepStrictEqual(s.takeReleased(), [])
    assert.strictEqual(s.stateOf("a"), "subscribed")
  })
})

describe("explicit unsubscribe (item 2)", () => {
  it("detaches the open streams and is not undone by a reconnect without a session", () => {
    const s = make()
    s.open("A", [req("u/#", 1)])
    s.subacked([req("u/#", 1)], [1], "A")
    s.unsubscribe(["u/#"])
    assert.deepStrictEqual(delivered(s.route({ topic: "u/x", id: 1 })), [])
    assert.deepStrictEqual(s.connected(false), [], "no SUBSCRIBE u/# after the reconnect")
    assert.deepStrictEqual(delivered(s.route({ topic: "u/x", id: 2 })), [])
    s.close("A")
    assert.deepStrictEqual(s.takeReleased(), [], "already unsubscribed")
  })

  it("a new stream on the filter subscribes again; the old stream stays detached", () => {
    const s = make()
    s.open("A", [req("u/#")])
    s.subacked([req("u/#")], [0], "A")
    s.unsubscribe(["u/#"])
    s.open("B", [req("u/#")])
    s.subacked([req("u/#")], [0], "B")
    assert.deepStrictEqual(delivered(s.route({ topic: "u/x", id: 1 })), ["B"])
    assert.deepStrictEqual(s.connected(false), [req("u/#")])
  })
})

describe("refused SUBACK (item 3)", () => {
  it("a refused re-subscribe fails every stream on that filter and only that filter of the packet", () => {
    const s = make()
    s.open("A", [req("cmd/#", 1)])
    s.open("B", [req("cmd/#"), req("status")])
    s.open("C", [req("status")])
    s.subacked([req("cmd/#", 1)], [1], "A")
    s.subacked([req("cmd/#"), req("status")], [0, 0], "B")
    const resubscribe = s.connected(false)
    assert.deepStrictEqual(resubscribe.map((r) => r.filter).sort(), ["cmd/#", "status"])
    assert.deepStrictEqual(resubscribe.find((r) => r.filter === "cmd/#")?.qos, 1, "at the highest QoS asked for")
    const codes = resubscribe.map((r) => r.filter === "cmd/#" ? 0x80 : 0)
    const { refused } = s.subacked(resubscribe, codes)
    assert.deepStrictEqual(refused.map((r) => [r.stream, r.filters]).sort(), [["A", ["cmd/#"]], ["B", ["cmd/#"]]])
    assert.strictEqual(s.stateOf("status"), "subscribed")
    assert.deepStrictEqual(delivered(s.route({ topic: "status", id: 1 })), ["B", "C"])
    assert.deepStrictEqual(delivered(s.route({ topic: "cmd/x", id: 2 })), [])
    assert.isTrue(s.isEnded("cmd/#"))
  })

  it("a refused first SUBSCRIBE fails only the stream that asked; others on the filter keep it", () => {
    const s = make()
    s.open("A", [req("x")])
    s.subacked([req("x")], [0], "A")
    s.open("B", [req("x"), req("y")])
    const { refused, unwanted } = s.subacked([req("x"), req("y")], [0x80, 0], "B")
    assert.deepStrictEqual(refused, [{ stream: "B", filters: ["x"] }])
    assert.deepStrictEqual(unwanted, [], "A still holds x")
    assert.deepStrictEqual(delivered(s.route({ topic: "x", id: 1 })), ["A"])
    assert.strictEqual(s.stateOf("y"), "subscribed")
  })
})

describe("shared subscriptions: keyed by the whole filter, routed by the filter after the ShareName [MQTT-4.8.2]", () => {
  it("a stream on $share/g/jobs/# gets jobs/a; SUBSCRIBE, UNSUBSCRIBE and the re-subscribe use the exact $share filter", () => {
    const s = make()
    s.open("W", [req("$share/g/jobs/#", 1)])
    s.open("P", [req("other/#")])
    s.subacked([req("$share/g/jobs/#", 1)], [1], "W")
    s.subacked([req("other/#")], [0], "P")
    assert.deepStrictEqual(delivered(s.route({ topic: "jobs/a", id: 1 })), ["W"])
    assert.deepStrictEqual(delivered(s.route({ topic: "other/x", id: 2 })), ["P"])
    assert.deepStrictEqual(s.connected(false).map((r) => r.filter).sort(), ["$share/g/jobs/#", "other/#"])
    s.close("W")
    assert.deepStrictEqual(s.takeReleased(), ["$share/g/jobs/#"])
    // Its tail is dropped as an ended subscription's, by the real topic.
    assert.deepStrictEqual(s.route({ topic: "jobs/a", id: 3 }), { _tag: "Dropped", reason: "ended" })
  })

  it("one stream on c and $share/h/c (one trie key): unsubscribing c keeps it routed through the group (found by the model)", () => {
    const s = make({ persistent: true })
    s.open("S0", [req("c"), req("$share/h/c")])
    s.unsubscribe(["c"])
    assert.deepStrictEqual(delivered(s.route({ topic: "c", id: 1 })), ["S0"])
    s.unsubscribe(["$share/h/c"])
    assert.deepStrictEqual(delivered(s.route({ topic: "c", id: 2 })), [])
    s.open("S1", [req("$share/g/c"), req("$share/h/c")])
    s.close("S1")
    assert.deepStrictEqual(delivered(s.route({ topic: "c", id: 3 })), [], "closed: gone from every key")
  })

  it("two groups on the same filter are two subscriptions; each stream gets what matches its own", () => {
    const s = make()
    s.open("G", [req("$share/g/jobs/#")])
    s.open("H", [req("$share/h/jobs/+")])
    assert.strictEqual(s.stateOf("$share/g/jobs/#"), "subscribing")
    assert.isUndefined(s.stateOf("jobs/#"))
    assert.deepStrictEqual(delivered(s.route({ topic: "jobs/a", id: 1 })), ["G", "H"])
    assert.deepStrictEqual(delivered(s.route({ topic: "jobs/a/b", id: 2 })), ["G"])
    s.unsubscribe(["$share/g/jobs/#"])
    assert.deepStrictEqual(delivered(s.route({ topic: "jobs/a", id: 3 })), ["H"])
  })
})

describe("messages without a stream (item 4)", () => {
  it("clean session: the tail of an ended subscription is dropped, never handed to a later stream", () => {
    const s = make()
    s.open("A", [req("telemetry")])
    s.subacked([req("telemetry")], [0], "A")
    s.close("A")
    assert.deepStrictEqual(s.takeReleased(), ["telemetry"])
    assert.deepStrictEqual(s.route({ topic: "telemetry", id: 2 }), { _tag: "Dropped", reason: "ended" })
    assert.deepStrictEqual(s.route({ topic: "telemetry", id: 3 }), { _tag: "Dropped", reason: "ended" })
    assert.deepStrictEqual(s.open("B", [req("telemetry")]), [])
    assert.deepStrictEqual(delivered(s.route({ topic: "telemetry", id: 4 })), ["B"])
  })

  it("persistent session: the tail of a stream ended with UNSUBSCRIBE is dropped too", () => {
    const s = make({ persistent: true })
    s.open("A", [req("t")])
    s.close("A")
    assert.deepStrictEqual(s.route({ topic: "t", id: 1 }), { _tag: "Dropped", reason: "ended" })
    assert.deepStrictEqual(s.open("B", [req("t")]), [])
  })

  it("persistent session: messages before any stream (a restored session) wait for the first matching stream, oldest first", () => {
    const s = make({ persistent: true, unmatchedCapacity: 2 })
    assert.deepStrictEqual(s.route({ topic: "q/1", id: 1 }), { _tag: "Buffered", evicted: undefined })
    s.route({ topic: "z", id: 2 })
    assert.deepStrictEqual(s.route({ topic: "q/2", id: 3 }), { _tag: "Buffered", evicted: { topic: "q/1", id: 1 } })
    assert.deepStrictEqual(s.open("A", [req("q/#")]), [{ topic: "q/2", id: 3 }])
    assert.strictEqual(s.buffered, 1)
  })

  it("persistent session without unsubscribeOnEnd: the broker keeps the filter, so its messages wait for the next stream", () => {
    const s = make({ persistent: true, unsubscribeOnEnd: false })
    s.open("A", [req("k")])
    s.subacked([req("k")], [1], "A")
    s.close("A")
    assert.deepStrictEqual(s.route({ topic: "k", id: 1 })._tag, "Buffered")
    assert.deepStrictEqual(s.open("B", [req("k")]), [{ topic: "k", id: 1 }])
  })

  it("clean session: a message that matches no stream is dropped (no-stream)", () => {
    const s = make()
    assert.deepStrictEqual(s.route({ topic: "n", id: 1 }), { _tag: "Dropped", reason: "no-stream" })
  })
})

// --- the model-based property test ------------------------------------------------------------------

const FILTERS = ["a", "a/#", "+/b", "c", "#", "$share/g/a/#", "$share/h/c"] as const
const TOPICS = ["a", "a/b", "x/b", "c"] as const

type Command =
  | { readonly _tag: "Open"; readonly filters: ReadonlyArray<string>; readonly qos: QoS }
  | { readonly _tag: "Close"; readonly pick: number }
  | { readonly _tag: "Flush" }
  | { readonly _tag: "Unsubscribe"; readonly filters: ReadonlyArray<string> }
  | { readonly _tag: "Disconnect" }
  | { readonly _tag: "Connect"; readonly sessionPresent: boolean }
  | { readonly _tag: "Answer" }
  | { readonly _tag: "Forbid"; readonly filter: string }
  | { readonly _tag: "Publish"; readonly topic: string }

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ _tag: fc.constant("Open" as const), filters: fc.uniqueArray(fc.constantFrom(...FILTERS), { minLength: 1, maxLength: 2 }), qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<QoS> }),
  fc.record({ _tag: fc.constant("Close" as const), pick: fc.nat(20) }),
  fc.constant({ _tag: "Flush" as const }),
  fc.record({ _tag: fc.constant("Unsubscribe" as const), filters: fc.uniqueArray(fc.constantFrom(...FILTERS), { minLength: 1, maxLength: 2 }) }),
  fc.constant({ _tag: "Disconnect" as const }),
  fc.record({ _tag: fc.constant("Connect" as const), sessionPresent: fc.boolean() }),
  fc.constant({ _tag: "Answer" as const }),
  fc.record({ _tag: fc.constant("Forbid" as const), filter: fc.constantFrom(...FILTERS) }),
  fc.record({ _tag: fc.constant("Publish" as const), topic: fc.constantFrom(...TOPICS) })
)

/** A request on the wire; `stream` is the stream whose own SUBSCRIBE it is (undefined: the client's re-subscribe). */
type Wire =
  | { readonly _tag: "Subscribe"; readonly requests: ReadonlyArray<SubscriptionRequest>; readonly stream: string | undefined; codes?: Array<number> }
  | { readonly _tag: "Unsubscribe"; readonly filters: ReadonlyArray<string> }

/**
 * Runs commands against the registry and a model of the program's intent, with a broker that applies
 * requests in the order the client sends them (what `Session` guarantees), answers SUBACKs in order, and
 * forgets everything on a reconnect without a session.
 */
const runModel = (persistent: boolean, commands: ReadonlyArray<Command>) => {
  const s = new Subscriptions<string, Msg>({ persistent, unsubscribeOnEnd: true, unmatchedCapacity: 100 })
  // the model: which filters each open stream still receives through, and which filters were let go of
  const alive = new Map<string, Set<string>>()
  const failed = new Set<string>()
  const letGo = new Set<string>()
  // the broker
  const broker = new Set<string>()
  const forbidden = new Set<string>()
  let connected = true
  /** Sent, waiting for the broker's answer (SUBACK / UNSUBACK), in order; re-sent after a reconnect. */
  let inflight: Array<Wire> = []
  /** Waiting for the connection (Session's queue). */
  let queue: Array<Wire> = []
  const buffered = new Map<number, { letGoAtRouting: boolean }>()
  let nextStream = 0
  let nextMessage = 0

  const brokerApply = (w: Wire) => {
    if (w._tag === "Unsubscribe") for (const f of w.filters) broker.delete(f)
    else {
      // the broker decides when the SUBSCRIBE arrives [MQTT-3.8.4-1]
      w.codes = w.requests.map(({ filter, qos }) => forbidden.has(filter) ? 0x80 : qos)
      for (const { filter } of w.requests) if (!forbidden.has(filter)) broker.add(filter)
    }
  }
  const send = (w: Wire) => {
    if (!connected) {
      queue.push(w)
      return
    }
    brokerApply(w)
    inflight.push(w)
  }
  const closeStream = (stream: string) => {
    const filters = alive.get(stream)
    if (filters === undefined) return
    alive.delete(stream)
    s.close(stream)
    for (const f of filters) if (![...alive.values()].some((set) => set.has(f))) letGo.add(f)
  }
  /** A refusal fails the stream: its Stream fails and the scope releases it, as the client does. */
  const fail = (stream: string, filters: ReadonlyArray<string>) => {
    for (const f of filters) alive.get(stream)?.delete(f)
    failed.add(stream)
    closeStream(stream)
    for (const f of filters) if (![...alive.values()].some((set) => set.has(f))) letGo.add(f)
  }
  const answerOne = () => {
    const w = inflight.shift()
    if (w === undefined || w._tag === "Unsubscribe") return
    const codes = w.codes ?? []
    const { refused, unwanted } = s.subacked(w.requests, codes, w.stream)
    for (const { stream, filters } of refused) {
      // the client's model: the stream's own refused filters, or every stream on a refused re-subscribe
      fail(stream, filters)
    }
    // a refusal of a stream's own SUBSCRIBE fails that stream, whatever else happened
    if (w.stream !== undefined && codes.some((c) => c === 0x80) && alive.has(w.stream)) fail(w.stream, [])
    for (const f of unwanted) assert.isTrue(letGo.has(f), `UNSUBSCRIBE ${f} while the program still wants it`)
    if (unwanted.length > 0) send({ _tag: "Unsubscribe", filters: unwanted })
  }
  const connect = (sessionPresent: boolean) => {
    if (connected) return
    connected = true
    if (!sessionPresent) broker.clear()
    const resubscribe = s.connected(sessionPresent)
    // Session: the re-subscribe first (an older one is replaced), then every unanswered request, then the queue
    const unanswered = inflight.filter((w) => !(w._tag === "Subscribe" && w.stream === undefined && !sessionPresent))
    inflight = []
    if (resubscribe.length > 0) send({ _tag: "Subscribe", requests: resubscribe, stream: undefined })
    for (const w of unanswered) send(w)
    const waiting = queue
    queue = []
    for (const w of waiting) send(w)
  }

  const step = (c: Command) => {
    switch (c._tag) {
      case "Open": {
        const stream = `S${nextStream++}`
        const requests = c.filters.map((filter) => req(filter, c.qos))
        alive.set(stream, new Set(c.filters))
        for (const f of c.filters) letGo.delete(f)
        const got = s.open(stream, requests)
        if (!persistent) assert.deepStrictEqual(got, [], "a clean session hands no earlier message to a new stream")
        for (const m of got) {
          const at = buffered.get(m.id)
          assert.isDefined(at, `message ${m.id} was never buffered`)
          assert.isFalse(at?.letGoAtRouting, `message ${m.id} is the tail of an ended subscription`)
          assert.isTrue(c.filters.some((f) => matches(matchingFilter(f), m.topic)))
          buffered.delete(m.id)
        }
        send({ _tag: "Subscribe", requests, stream })
        return
      }
      case "Close": {
        const open = [...alive.keys()]
        if (open.length > 0) closeStream(open[c.pick % open.length] as string)
        return
      }
      case "Flush": {
        const released = s.takeReleased()
        for (const f of released) assert.isTrue(letGo.has(f), `UNSUBSCRIBE ${f} while the program still wants it`)
        if (released.length > 0) send({ _tag: "Unsubscribe", filters: released })
        return
      }
      case "Unsubscribe":
        s.unsubscribe(c.filters)
        for (const set of alive.values()) for (const f of c.filters) set.delete(f)
        for (const f of c.filters) letGo.add(f)
        send({ _tag: "Unsubscribe", filters: c.filters })
        return
      case "Disconnect":
        connected = false
        return
      case "Connect":
        return connect(c.sessionPresent)
      case "Answer":
        if (connected) answerOne()
        return
      case "Forbid":
        forbidden.add(c.filter)
        return
      case "Publish": {
        if (!connected || ![...broker].some((f) => matches(matchingFilter(f), c.topic))) return
        const id = nextMessage++
        const route = s.route({ topic: c.topic, id })
        const expected = [...alive].filter(([, fs]) => [...fs].some((f) => matches(matchingFilter(f), c.topic))).map(([k]) => k).sort()
        assert.deepStrictEqual(delivered(route), expected, `routing ${c.topic}`)
        if (route._tag === "Buffered") {
          assert.isTrue(persistent, "a clean session buffers nothing")
          buffered.set(id, { letGoAtRouting: [...letGo].some((f) => matches(matchingFilter(f), c.topic)) })
          if (route.evicted !== undefined) buffered.delete(route.evicted.id)
        }
        return
      }
    }
  }

  for (const c of commands) step(c)
  // quiescence: connected, every request answered, every due UNSUBSCRIBE sent
  connect(false)
  for (let i = 0; i < 50; i++) {
    while (inflight.length > 0) answerOne()
    const released = s.takeReleased()
    if (released.length === 0) break
    send({ _tag: "Unsubscribe", filters: released })
  }
  assert.deepStrictEqual(inflight, [])

  // the broker's subscription set converges to what the program asked for
  const wanted = new Set([...alive.values()].flatMap((set) => [...set]))
  assert.deepStrictEqual([...broker].sort(), [...wanted].sort(), "the broker's subscriptions")
  // no stream waits on a refused subscription: an open stream is attached exactly to the filters the broker
  // holds for it (equal sets above), and a refused one was failed and released
  for (const [stream, filters] of alive) {
    assert.deepStrictEqual([...s.filtersOf(stream)].sort(), [...filters].sort(), `the filters of ${stream}`)
  }
  for (const stream of failed) {
    assert.isFalse(alive.has(stream))
    assert.deepStrictEqual(s.filtersOf(stream), [])
  }
}

describe("model: random interleavings", () => {
  it("the broker converges to the program's intent; streams get only their own messages; refusals fail streams (clean session)", () => {
    fc.assert(fc.property(fc.array(command, { maxLength: 60 }), (commands) => runModel(false, commands)), { numRuns: 400 })
  })

  it("the same with a persistent session: buffered messages go only to later streams and never the tail of an ended one", () => {
    fc.assert(fc.property(fc.array(command, { maxLength: 60 }), (commands) => runModel(true, commands)), { numRuns: 400 })
  })
})

describe("UNSUBSCRIBE in flight", () => {
  it("a new stream on a filter waits while an UNSUBSCRIBE of it is unanswered; each UNSUBACK counts once", () => {
    const s = make()
    assert.isFalse(s.awaitsUnsuback(["a"]))
    s.unsubscribeSent(["a", "b"])
    s.unsubscribeSent(["a"])
    assert.isTrue(s.awaitsUnsuback(["a"]))
    assert.isTrue(s.awaitsUnsuback(["x", "b"]))
    assert.isFalse(s.awaitsUnsuback(["x"]))
    s.unsubacked(["a", "b"])
    assert.isTrue(s.awaitsUnsuback(["a"]), "a second UNSUBSCRIBE of a is still unanswered")
    assert.isFalse(s.awaitsUnsuback(["b"]))
    s.unsubacked(["a"])
    assert.isFalse(s.awaitsUnsuback(["a"]))
    s.unsubacked(["a"]) // an extra answer does not go negative
    s.unsubscribeSent(["a"])
    assert.isTrue(s.awaitsUnsuback(["a"]))
  })
})

describe("MQTT 5.0 Subscription Identifiers [MQTT-3.3.4-3]", () => {
  interface IdMsg {
    readonly topic: string
    readonly properties?: { readonly subscriptionIdentifiers?: ReadonlyArray<number> }
  }
  const makeIds = () => new Subscriptions<string, IdMsg>({ persistent: false, unsubscribeOnEnd: true, unmatchedCapacity: 100 })
  const streamsOf = (route: Route<string, IdMsg>) => route._tag === "Deliver" ? [...route.streams].sort() : []

  it("overlapping filters: a message goes to the streams of the identifiers it carries, not to every matching filter", () => {
    const s = makeIds()
    s.open("ALL", [req("a/#")])
    const all = s.identify(["a/#"])
    s.open("LOCAL", [req("a/b")])
    const local = s.identify(["a/b"])
    assert.notStrictEqual(all, local)
    // The broker matched only a/# (No Local held back a/b for the client's own message): only ALL gets it.
    assert.deepStrictEqual(streamsOf(s.route({ topic: "a/b", properties: { subscriptionIdentifiers: [all] } })), ["ALL"])
    assert.deepStrictEqual(streamsOf(s.route({ topic: "a/b", properties: { subscriptionIdentifiers: [all, local] } })), ["ALL", "LOCAL"])
    // mosquitto sends an MQTT 5.0 client a copy per matching subscription [MQTT-3.3.4-3]: each copy goes to
    // the streams of its own filter, so streams on different filters get one each.
    assert.deepStrictEqual(streamsOf(s.route({ topic: "a/b", properties: { subscriptionIdentifiers: [local] } })), ["LOCAL"])
    // Without identifiers (or with ones the client never gave), the topic decides.
    assert.deepStrictEqual(streamsOf(s.route({ topic: "a/b" })), ["ALL", "LOCAL"])
    assert.deepStrictEqual(streamsOf(s.route({ topic: "a/b", properties: { subscriptionIdentifiers: [999] } })), ["ALL", "LOCAL"])
  })

  it("a stream on two filters that both match takes the copy of either: a single copy with one identifier is not lost", () => {
    const s = makeIds()
    s.open("S", [req("a/b"), req("a/+")])
    const ab = s.identify(["a/b"])
    const plus = s.identify(["a/+"])
    const copy = (ids: ReadonlyArray<number>) => streamsOf(s.route({ topic: "a/b", properties: { subscriptionIdentifiers: ids } }))
    assert.deepStrictEqual(copy([ab]), ["S"])
    assert.deepStrictEqual(copy([plus]), ["S"])
    assert.deepStrictEqual(copy([ab, plus]), ["S"])
  })

  // Routes by identifier are cached per (identifier, topic): every change of streams, filters or
  // identifiers must show in the next route, as it does without the cache.
  it("a cached route by identifier follows streams opening and closing, and a filter given a new identifier", () => {
    const s = makeIds()
    s.open("A", [req("a/#")])
    const id = s.identify(["a/#"])
    const message = { topic: "a/b", properties: { subscriptionIdentifiers: [id] } }
    assert.deepStrictEqual(streamsOf(s.route(message)), ["A"])
    assert.deepStrictEqual(streamsOf(s.route(message)), ["A"]) // from the cache
    s.open("B", [req("a/#")])
    assert.deepStrictEqual(streamsOf(s.route(message)), ["A", "B"])
    s.close("A")
    assert.deepStrictEqual(streamsOf(s.route(message)), ["B"])
    // Another filter takes the identifier's place for the same topic: its stream, not the old one's.
    const other = s.identify(["a/+"])
    s.open("C", [req("a/+")])
    const next = { topic: "a/b", properties: { subscriptionIdentifiers: [other] } }
    assert.deepStrictEqual(streamsOf(s.route(next)), ["C"])
    assert.deepStrictEqual(streamsOf(s.route(message)), ["B"])
    // A topic the identifier's filter does not match falls back to the topic, also from the cache.
    const elsewhere = { topic: "z", properties: { subscriptionIdentifiers: [id] } }
    assert.strictEqual(s.route(elsewhere)._tag, "Dropped")
    s.open("Z", [req("z")])
    assert.deepStrictEqual(streamsOf(s.route(elsewhere)), ["Z"])
  })

  it("an identifier's filter that ended routes nowhere, and its identifier is forgotten", () => {
    const s = makeIds()
    s.open("A", [req("x/#")])
    const id = s.identify(["x/#"])
    s.subacked([req("x/#")], [0], "A")
    s.close("A")
    s.takeReleased()
    s.unsubacked(["x/#"])
    const route = s.route({ topic: "x/1", properties: { subscriptionIdentifiers: [id] } })
    assert.notStrictEqual(route._tag, "Deliver")
  })
})

describe("Subscription Identifiers of an earlier process (a persistent session's queued messages)", () => {
  it("an identifier naming no filter that matches the topic falls back to the topic: the matching stream gets the message", () => {
    const s = new Subscriptions<string, { readonly topic: string; readonly properties?: { readonly subscriptionIdentifiers?: ReadonlyArray<number> } }>({
      persistent: true,
      unsubscribeOnEnd: false,
      unmatchedCapacity: 100
    })
    s.open("A", [req("a/#")])
    const a = s.identify(["a/#"])
    s.open("B", [req("b/#")])
    // The earlier process gave "b/#" the number this process gave "a/#".
    const route = s.route({ topic: "b/x", properties: { subscriptionIdentifiers: [a] } })
    assert.deepStrictEqual(route._tag === "Deliver" ? [...route.streams] : route._tag, ["B"])
  })
})
