/**
 * The ejabberd test broker (brokers/Ejabberd.ts), checked with the codec alone: raw MQTT 5.0 packets over a TCP
 * socket, no client. What ejabberd 23.01's mod_mqtt really answers (CONNACK properties, refusals, user properties
 * and topic aliases on delivery, one message in flight, shared subscriptions), and that no process of the broker
 * is left once its scope closed.
 *
 * Every wait is on a packet or the socket's close, bounded.
 */
import { type Connect, Decoder, encode, type Packet, type PropertiesOf, ReasonCode } from "@aimeqtt/codec"
import { afterAll, assert, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import { BrokerError, describeEjabberd, Ejabberd, EjabberdBroker, type EjabberdNode, processesAlive } from "./brokers/index.ts"
import { HOST, Observed, pidAlive } from "./brokers/internal.ts"

type Packet5 = Packet<5>
type Tag = Packet5["_tag"]
type PacketOf<T extends Tag> = Extract<Packet5, { readonly _tag: T }>

type WireEvent =
  | { readonly _tag: "Packet"; readonly packet: Packet5 }
  | { readonly _tag: "Closed" }
  | { readonly _tag: "DecodeError"; readonly message: string }

/** A raw MQTT 5.0 connection: packets encoded and decoded by the codec, nothing else. */
interface Wire {
  readonly send: (packet: Packet5) => Effect.Effect<void>
  /** The next packet with this tag not taken yet (every packet is taken once), within `timeoutMs`. */
  readonly next: <T extends Tag>(tag: T, timeoutMs?: number) => Effect.Effect<PacketOf<T>, BrokerError>
  /** Waits until the broker closed the connection. */
  readonly closed: (timeoutMs?: number) => Effect.Effect<void, BrokerError>
  /** Every packet received so far. */
  readonly received: () => ReadonlyArray<Packet5>
}

const openWire = (port: number): Effect.Effect<Wire, BrokerError, Scope.Scope> =>
  Effect.gen(function*() {
    const events = new Observed<WireEvent>()
    const socket = yield* Effect.acquireRelease(
      Effect.callback<Net.Socket, BrokerError>((resume) => {
        const s = Net.createConnection({ host: HOST, port })
        const onError = (cause: Error) => resume(Effect.fail(new BrokerError({ message: `cannot connect to ${port}: ${cause.message}`, cause })))
        s.once("error", onError)
        s.once("connect", () => {
          s.off("error", onError)
          s.on("error", () => {
            // the close follows
          })
          resume(Effect.succeed(s))
        })
      }),
      (s) => Effect.sync(() => s.destroy())
    )
    const decoder = Decoder.make({ protocolVersion: 5 })
    socket.on("data", (chunk: Buffer) => {
      const packets = decoder.push(new Uint8Array(chunk))
      if (Array.isArray(packets)) for (const packet of packets) events.push({ _tag: "Packet", packet })
      else events.push({ _tag: "DecodeError", message: packets.message })
    })
    socket.once("close", () => events.push({ _tag: "Closed" }))
    const taken = new Set<WireEvent>()
    return {
      // encode may return a view into a shared pool: copy it before the socket holds on to it
      send: (packet) => Effect.sync(() => void socket.write(encode(packet, { protocolVersion: 5 }).slice())),
      next: <T extends Tag>(tag: T, timeoutMs = 5000) =>
        events.waitFor(
          (e) => !taken.has(e) && (e._tag === "DecodeError" || (e._tag === "Packet" && e.packet._tag === tag)),
          timeoutMs,
          `${tag} from ejabberd`
        ).pipe(
          Effect.flatMap((e) => {
            taken.add(e)
            if (e._tag === "Packet" && e.packet._tag === tag) return Effect.succeed(e.packet as PacketOf<T>)
            return Effect.fail(new BrokerError({ message: `while waiting for ${tag}: ${e._tag === "DecodeError" ? e.message : e._tag}` }))
          })
        ),
      closed: (timeoutMs = 5000) => Effect.asVoid(events.waitFor((e) => e._tag === "Closed", timeoutMs, "the close of the connection")),
      received: () => events.items.flatMap((e) => (e._tag === "Packet" ? [e.packet] : []))
    }
  })

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (data: Uint8Array): string => new TextDecoder().decode(data)

let ids = 0
const clientId = (name: string) => `${name}-${process.pid}-${++ids}`

const connectPacket = (
  id: string,
  options: {
    readonly username?: string
    readonly password?: string
    readonly properties?: PropertiesOf["Connect"]
  } = { username: "alice", password: "password" }
): Connect<5> => ({
  _tag: "Connect",
  protocolLevel: 5,
  clientId: id,
  cleanSession: true,
  keepAlive: 30,
  ...(options.username !== undefined ? { username: options.username } : {}),
  ...(options.password !== undefined ? { password: bytes(options.password) } : {}),
  ...(options.properties !== undefined ? { properties: options.properties } : {})
})

/** A wire logged in as alice (CONNACK 0 checked); `properties` go into the CONNECT. */
const session = (port: number, name: string, properties?: PropertiesOf["Connect"]) =>
  Effect.gen(function*() {
    const wire = yield* openWire(port)
    yield* wire.send(connectPacket(clientId(name), { username: "alice", password: "password", ...(properties ? { properties } : {}) }))
    const connack = yield* wire.next("Connack")
    assert.strictEqual(connack.reasonCode, ReasonCode.Success, `CONNACK of ${name}`)
    return wire
  })

const subscribe = (wire: Wire, packetId: number, filter: string, qos: 0 | 1 | 2) =>
  Effect.gen(function*() {
    yield* wire.send({
      _tag: "Subscribe",
      packetId,
      subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }]
    })
    return yield* wire.next("Suback")
  })

describeEjabberd("ejabberd 23.01 (mod_mqtt) as an MQTT 5.0 test broker, through the codec", () => {
  let shared: EjabberdNode | undefined

  it.layer(EjabberdBroker.layer({ users: { alice: "password" } }), { timeout: "60 seconds", excludeTestServices: true })(
    "one broker for the file",
    (it) => {
      it.effect("CONNACK: reason 0 and the properties it advertises", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          shared = broker
          const wire = yield* openWire(broker.port)
          yield* wire.send(connectPacket(clientId("connack")))
          const connack = yield* wire.next("Connack")
          assert.deepStrictEqual(connack, {
            _tag: "Connack",
            sessionPresent: false,
            reasonCode: 0,
            properties: {
              sessionExpiryInterval: 0,
              serverKeepAlive: 30,
              topicAliasMaximum: 100,
              sharedSubscriptionAvailable: false
            }
          })
          // an empty client id: the server assigns one
          const anonymous = yield* openWire(broker.port)
          yield* anonymous.send(connectPacket(""))
          const assigned = yield* anonymous.next("Connack")
          assert.strictEqual(assigned.reasonCode, 0)
          assert.isString(assigned.properties?.assignedClientIdentifier)
          assert.isAbove(assigned.properties?.assignedClientIdentifier?.length ?? 0, 0)
        }))

      it.effect("refusals: no credentials, an unknown user, a wrong password are CONNACK 0x87; alice@localhost logs in", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const attempts = [
            { name: "none", options: {}, code: ReasonCode.NotAuthorized },
            { name: "unknown", options: { username: "mallory", password: "password" }, code: ReasonCode.NotAuthorized },
            { name: "wrong", options: { username: "alice", password: "nope" }, code: ReasonCode.NotAuthorized },
            { name: "jid", options: { username: "alice@localhost", password: "password" }, code: ReasonCode.Success }
          ]
          for (const attempt of attempts) {
            const wire = yield* openWire(broker.port)
            yield* wire.send(connectPacket(clientId(attempt.name), attempt.options))
            const connack = yield* wire.next("Connack")
            assert.strictEqual(connack.reasonCode, attempt.code, `CONNACK for ${attempt.name}`)
            if (attempt.code !== ReasonCode.Success) yield* wire.closed()
          }
        }))

      it.effect("QoS 1 round trip: user properties and content type are carried; topic aliases are taken from a publisher, never sent to a subscriber that allows them", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const sub = yield* session(broker.port, "sub", { topicAliasMaximum: 10, receiveMaximum: 10 })
          const suback = yield* subscribe(sub, 1, "ej/+/t", 1)
          assert.deepStrictEqual(suback.returnCodes, [ReasonCode.GrantedQoS1])
          const pub = yield* session(broker.port, "pub")
          const userProperties: ReadonlyArray<readonly [string, string]> = [["k", "v1"], ["k", "v2"], ["origin", "codec test"]]
          // the publisher uses Topic Alias 1: set with the topic first, then alone (empty topic)
          for (const [packetId, payload, topic] of [[10, "first", "ej/x/t"], [11, "second", ""]] as const) {
            yield* pub.send({
              _tag: "Publish",
              topic,
              payload: bytes(payload),
              qos: 1,
              retain: false,
              dup: false,
              packetId,
              properties: { userProperties, contentType: "text/plain", topicAlias: 1 }
            })
            const puback = yield* pub.next("Puback")
            assert.deepStrictEqual([puback.packetId, puback.reasonCode], [packetId, ReasonCode.Success])
            const got = yield* sub.next("Publish")
            assert.strictEqual(got.topic, "ej/x/t", "the full topic, every time")
            assert.strictEqual(text(got.payload), payload)
            assert.strictEqual(got.qos, 1)
            assert.isDefined(got.packetId)
            assert.deepStrictEqual(got.properties?.userProperties, userProperties, "user properties in order, duplicates kept")
            assert.strictEqual(got.properties?.contentType, "text/plain")
            assert.isUndefined(got.properties?.topicAlias, "ejabberd sends no topic alias")
            yield* sub.send({ _tag: "Puback", packetId: got.packetId!, reasonCode: ReasonCode.Success })
          }
        }))

      it.effect("a QoS 1 PUBLISH nobody subscribed to is answered PUBACK 0x10 (No matching subscribers)", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const pub = yield* session(broker.port, "lonely")
          yield* pub.send({ _tag: "Publish", topic: "ej/nobody", payload: bytes("x"), qos: 1, retain: false, dup: false, packetId: 7 })
          const puback = yield* pub.next("Puback")
          assert.deepStrictEqual([puback.packetId, puback.reasonCode], [7, ReasonCode.NoMatchingSubscribers])
        }))

      it.effect("one QoS 1 message in flight per subscriber, whatever Receive Maximum it sent", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const sub = yield* session(broker.port, "slow", { receiveMaximum: 10 })
          assert.deepStrictEqual((yield* subscribe(sub, 1, "ej/flow", 1)).returnCodes, [ReasonCode.GrantedQoS1])
          const pub = yield* session(broker.port, "fast")
          for (const n of [1, 2, 3]) {
            yield* pub.send({ _tag: "Publish", topic: "ej/flow", payload: bytes(`m${n}`), qos: 1, retain: false, dup: false, packetId: n })
            assert.strictEqual((yield* pub.next("Puback")).reasonCode, ReasonCode.Success)
          }
          // all three are routed (PUBACKed to the publisher); a ping round trip on the subscriber's connection
          // shows what it was sent before the ping was answered
          const first = yield* sub.next("Publish")
          yield* sub.send({ _tag: "Pingreq" })
          yield* sub.next("Pingresp")
          assert.deepStrictEqual(sub.received().filter((p) => p._tag === "Publish").length, 1, "only the first is in flight")
          assert.strictEqual(text(first.payload), "m1")
          // each PUBACK releases the next one
          const order = [text(first.payload)]
          let current = first
          for (const _ of [2, 3]) {
            yield* sub.send({ _tag: "Puback", packetId: current.packetId!, reasonCode: ReasonCode.Success })
            current = yield* sub.next("Publish")
            order.push(text(current.payload))
          }
          assert.deepStrictEqual(order, ["m1", "m2", "m3"])
        }))

      it.effect("a $share subscription is answered with DISCONNECT 0x9E (Shared Subscriptions not supported), no SUBACK", () =>
        Effect.gen(function*() {
          const broker = yield* EjabberdBroker
          const wire = yield* session(broker.port, "share")
          yield* wire.send({
            _tag: "Subscribe",
            packetId: 3,
            subscriptions: [{ filter: "$share/g/ej/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }]
          })
          const disconnect = yield* wire.next("Disconnect")
          assert.strictEqual(disconnect.reasonCode, ReasonCode.SharedSubscriptionsNotSupported)
          yield* wire.closed()
          assert.isFalse(wire.received().some((p) => p._tag === "Suback"))
        }))
    }
  )

  afterAll(() => {
    if (shared === undefined) return
    assert.deepStrictEqual(processesAlive(shared.pids()), [], "every process of the shared broker has exited")
  })

  // live clock: the helper's waits are real time
  it.live("when its scope closes, beam.smp and the whole chain have exited (by PID) and the temp dir is gone", () =>
    Effect.gen(function*() {
      const node = yield* Effect.scoped(Effect.gen(function*() {
        const broker = yield* Ejabberd.start()
        assert.isTrue(yield* broker.alive)
        assert.strictEqual(Fs.readFileSync(`/proc/${broker.pid}/comm`, "utf8").trim(), "beam.smp")
        assert.include(broker.pids(), broker.launcherPid)
        return broker
      }))
      assert.isFalse(pidAlive(node.pid), `beam.smp ${node.pid} is gone`)
      assert.deepStrictEqual(processesAlive(node.pids()), [], "launcher, ejabberdctl and beam.smp have exited")
      assert.isFalse(Fs.existsSync(node.dir), "the temp dir is removed")
    }), 60_000)
})
