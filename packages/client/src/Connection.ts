/**
 * One socket's lifetime: CONNECT/CONNACK, then three fibers until the connection ends.
 * - reader: decodes the socket with the streaming {@link Decoder} and hands packets to the client;
 *   it only pulls more bytes once the previous packets were handled (TCP backpressure).
 * - writer: drains an unbounded queue of packets (bounded in practice: each publisher waits for its
 *   own write or ack) and writes everything that is ready as one corked batch. A large batch or
 *   packet goes out in several writes (see {@link MIN_WRITE_BYTES}), so that the keep-alive sees bytes
 *   leave the socket during a long write; each item's callback runs as soon as its packets are written.
 * - keep-alive: see {@link KeepAlive}; the reader and the writer record what they observe in its
 *   {@link KeepAlive.Liveness} record.
 * The connection ends with a typed cause: `ConnectionLost` or `ProtocolError`.
 *
 * @since 0.1.0
 */
import {
  type Auth,
  type Connack,
  type Connect,
  Decoder,
  DecodeError,
  encode,
  encodeAll,
  encodedLength,
  encodePublishHead,
  type Packet,
  type ProtocolVersion,
  reasonCodeName
} from "@aimeqtt/codec"
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Queue, Redacted, type Scope } from "effect"
import { AuthenticationFailed, ConnectError, ConnectionLost, ConnectionRefused, DisconnectedByServer, ProtocolError, type ConnectionFailure } from "./errors.ts"
import * as Authentication from "./Authentication.ts"
import { connack311, negotiate, type Negotiated } from "./Handshake.ts"
import * as KeepAlive from "./KeepAlive.ts"
import * as Payloads from "./Payloads.ts"
import type { AuthenticationOptions, ClientOptions, ConnectRequest, Endpoint } from "./Options.ts"
import { OutgoingAliases } from "./TopicAliases.ts"
import type * as Transport from "./Transport.ts"
import * as Progress from "./transports/Progress.ts"
import * as Transports from "./transports/Registry.ts"
import * as Wake from "./Wake.ts"

/** Called once the packets it came with are written (`undefined`) or can no longer be (an error). @since 0.1.0 */
export type WriteCallback = (error: ConnectionFailure | undefined) => void

/** A packet of either protocol version: what a connection sends and receives. @since 0.3.0 */
export type AnyPacket = Packet<ProtocolVersion>

/** Packets queued for the writer. `cancelled` (set by an interrupted caller) skips them if not yet written. @since 0.1.0 */
export interface WriteItem {
  readonly packets: ReadonlyArray<AnyPacket>
  readonly onWritten: WriteCallback | undefined
  cancelled: boolean
}

/** How to open a connection. @since 0.1.0 */
export interface ConnectionOptions {
  readonly endpoint: Endpoint
  /** The registered transports: the one for `endpoint.protocol` connects when the endpoint carries no `transport`. */
  readonly transports: ReadonlyArray<Transport.Transport>
  readonly connect: ConnectRequest
  readonly password: Redacted.Redacted<string> | undefined
  readonly connectTimeout: Duration.Duration
  readonly pingTimeoutMillis: number
  /** `pingTimeoutMillis` was chosen by the user: a Server Keep Alive does not change it. */
  readonly pingTimeoutGiven: boolean
  readonly maxPacketSize: number
  /** MQTT 5.0: the Session Expiry Interval of the closing DISCONNECT (see {@link ClientOptions.sessionExpiryOnClose}). */
  readonly sessionExpiryOnClose?: number | undefined
  /** MQTT 5.0 enhanced authentication (see {@link ClientOptions.authentication}). */
  readonly authentication?: AuthenticationOptions | undefined
  /** MQTT 5.0: give published topics aliases, up to the broker's Topic Alias Maximum (see {@link OutgoingAliases}). */
  readonly topicAliases?: boolean
  /** Observes the packets sent and received (see {@link ClientOptions.onPacket}). */
  readonly onPacket?: ClientOptions["onPacket"]
}

/** A hook of {@link ClientOptions.onPacket}. */
type PacketHook = NonNullable<ClientOptions["onPacket"]>

/**
 * Runs the packet hook; its failures and defects (a throw, even before it returns an Effect) are
 * dropped: a broken hook must not end the connection.
 */
const observe = (hook: PacketHook, direction: "sent" | "received", packet: AnyPacket): Effect.Effect<void> =>
  Effect.asVoid(Effect.exit(Effect.suspend(() => {
    // A hook from plain JavaScript may return anything (undefined, a promise): ignored like a failure.
    const result: unknown = hook({ direction, packet })
    return Effect.isEffect(result) ? (result as ReturnType<PacketHook>) : Effect.void
  })))

/** Why a connection ended. @since 0.1.0 */
export type ConnectionEnd = ConnectionLost | ProtocolError | DisconnectedByServer

/** An open, accepted connection. @since 0.1.0 */
export interface Connection {
  readonly sessionPresent: boolean
  /** What the CONNACK agreed on (see {@link Negotiated}). */
  readonly negotiated: Negotiated
  /** Queues packets for the writer (synchronously, so callers keep their order). */
  readonly send: (packets: ReadonlyArray<AnyPacket>, onWritten?: WriteCallback) => WriteItem
  /**
   * Runs the reader, writer and keep-alive fibers, handing each received packet to `onPacket`.
   * Fails with the cause once the connection ends; never succeeds.
   */
  readonly run: (onPacket: (packet: AnyPacket) => Effect.Effect<void, ProtocolError>) => Effect.Effect<never, ConnectionEnd>
  /** Ends the connection from outside (e.g. the session store failed); `run` fails with `cause`. */
  readonly abort: (cause: ConnectionEnd) => void
  /**
   * MQTT 5.0: authenticates again on this connection [MQTT-4.12.1] (AUTH 0x19, the broker's challenges,
   * AUTH 0x00). Fails with `AuthenticationFailed` when a step fails (the connection is then closed, and the
   * reconnect authenticates afresh) or with why the connection ended (a broker that refuses sends DISCONNECT).
   */
  readonly reauthenticate: Effect.Effect<void, AuthenticationFailed | ConnectionEnd>
  /** Writes what is queued, then DISCONNECT [MQTT-3.14], waiting at most `timeout`. */
  readonly disconnect: (timeout: Duration.Input) => Effect.Effect<void>
}

const textEncoder = new TextEncoder()

/**
 * Dials the broker and performs the CONNECT/CONNACK handshake within `connectTimeout`.
 * The socket is closed when the scope closes.
 *
 * @since 0.1.0
 */
export const open = (options: ConnectionOptions): Effect.Effect<Connection, ConnectError | ConnectionRefused | ProtocolError, Scope.Scope> => {
  // What the attempt waits for while the transport connects: a timeout then says so, not "no CONNACK".
  const progress = Progress.progress()
  return Effect.gen(function*() {
    const channel = yield* Transports.open(options.transports, options.endpoint, options.connectTimeout, progress)
    const version: ProtocolVersion = options.connect.protocolLevel === 5 ? 5 : 4
    const decoder: Decoder<ProtocolVersion> = Decoder.make<ProtocolVersion>({ maxPacketSize: options.maxPacketSize, protocolVersion: version })
    const auth = version === 5 ? options.authentication : undefined
    // MQTT 5.0 enhanced authentication: the method and the first data go in CONNECT [MQTT-3.1.2.11.9].
    const request = auth === undefined ? options.connect : yield* Authentication.connectWith(options.connect, auth).pipe(
      Effect.mapError((cause) => new ConnectError({ message: cause.message, cause }))
    )
    const connect = (options.password === undefined
      ? request
      : { ...request, password: textEncoder.encode(Redacted.value(options.password)) }) as Connect<ProtocolVersion>
    const hook = options.onPacket
    // The hook sees CONNECT without its password: never a credential, not even its length.
    if (hook !== undefined) yield* observe(hook, "sent", request as Connect<ProtocolVersion>)
    yield* channel.write([encode<ProtocolVersion>(connect, { protocolVersion: version })]).pipe(
      Effect.mapError((cause) => new ConnectError({ message: "could not send CONNECT", cause }))
    )

    // The first packet from the broker must be CONNACK [MQTT-3.2.0-1] (or, with enhanced authentication,
    // AUTH challenges before it [MQTT-4.12.0-2]); later packets may share its chunk.
    const received: Array<AnyPacket> = []
    const next = Effect.gen(function*() {
      while (received.length === 0) {
        const chunks = yield* channel.pull.pipe(
          Effect.mapError((cause) =>
            // A transport's own verdict (e.g. a TLS alert on the first read) is passed on as it is.
            cause.reason.cause instanceof ConnectError ? cause.reason.cause : new ConnectError({
              message: "the broker closed the connection before CONNACK" +
                // RabbitMQ 3.10 closes the connection on an MQTT 5.0 CONNECT without a word.
                (version === 5 ? " (a broker that does not speak MQTT 5.0 may do so: try protocolVersion: 4)" : ""),
              cause
            })
          )
        )
        for (const chunk of chunks) {
          const packets = decoder.push(chunk)
          if (packets instanceof DecodeError) {
            // An MQTT 3.1.1 broker answers an MQTT 5.0 CONNECT with a 3.1.1 CONNACK [MQTT-3.1.2-2].
            const old = version === 5 && received.length === 0 ? connack311(chunk) : undefined
            if (old !== undefined) {
              received.push(old)
              break
            }
            // What an HTTP server, or anything else that does not speak MQTT, sends back to a CONNECT.
            return yield* new ProtocolError({ message: `malformed CONNACK: ${packets.message} (does the server speak MQTT on this port?)` })
          }
          if (hook !== undefined) for (const packet of packets) yield* observe(hook, "received", packet)
          received.push(...packets)
        }
      }
      return received.shift() as AnyPacket
    })
    let connack = yield* next
    while (connack._tag === "Auth") {
      if (auth === undefined) {
        return yield* new ProtocolError({ message: "AUTH from the broker, but the client asked for no enhanced authentication [MQTT-4.12.0-6]" })
      }
      const reply = yield* Authentication.answer(auth, connack, "connect").pipe(
        Effect.mapError((cause) => cause._tag === "ProtocolError" ? cause : new ConnectError({ message: cause.message, cause }))
      )
      if (reply === "done") return yield* new ProtocolError({ message: "AUTH Success before CONNACK [MQTT-4.12.0-2]" })
      if (hook !== undefined) yield* observe(hook, "sent", reply)
      yield* channel.write([encode<5>(reply, { protocolVersion: 5 })]).pipe(
        Effect.mapError((cause) => new ConnectError({ message: "could not send AUTH", cause }))
      )
      connack = yield* next
    }
    if (connack._tag !== "Connack") {
      return yield* new ProtocolError({ message: `expected CONNACK, the broker sent ${connack._tag.toUpperCase()} [MQTT-3.2.0-1]` })
    }
    const negotiated = negotiate(options.connect, connack as Connack<ProtocolVersion>)
    if (negotiated instanceof ConnectionRefused || negotiated instanceof ProtocolError) return yield* negotiated
    if (auth !== undefined && "properties" in connack) {
      // The broker's final data (e.g. SCRAM's server signature), checked by the program.
      yield* Authentication.finish(auth, connack.properties?.authenticationData).pipe(
        Effect.mapError((cause) => new ConnectError({ message: cause.message, cause }))
      )
    }
    return yield* makeConnection(options, channel, decoder, connack as Connack<ProtocolVersion>, negotiated, received)
  }).pipe(
    Effect.timeoutOrElse({
      duration: options.connectTimeout,
      orElse: () =>
        Effect.fail(
          Transports.timedOut(progress, options.transports, options.endpoint, options.connectTimeout) ??
            new ConnectError({ message: `no CONNACK from the broker within ${Duration.format(options.connectTimeout)}` })
        )
    })
  )
}

const makeConnection = (
  options: ConnectionOptions,
  channel: Transport.Channel,
  decoder: Decoder<ProtocolVersion>,
  connack: Connack<ProtocolVersion>,
  negotiated: Negotiated,
  early: Array<AnyPacket>
): Effect.Effect<Connection> =>
  Effect.gen(function*() {
    const version = negotiated.protocolVersion
    const encodeOptions = { protocolVersion: version }
    const aliases = options.topicAliases === true && version === 5 && negotiated.topicAliasMaximum > 0
      ? new OutgoingAliases(negotiated.topicAliasMaximum)
      : undefined
    // The broker's Server Keep Alive replaces ours [MQTT-3.2.2-21]; so does the ping timeout derived from it.
    const keepAliveMillis = negotiated.keepAlive * 1000
    const pingTimeoutMillis = options.pingTimeoutGiven ? options.pingTimeoutMillis : Math.max(1000, keepAliveMillis / 2)
    const outbox = yield* Queue.unbounded<WriteItem>()
    const ended = yield* Deferred.make<never, ConnectionEnd>()
    const liveness = KeepAlive.make(yield* Clock.currentTimeMillis)
    const hook = options.onPacket

    const send = (packets: ReadonlyArray<AnyPacket>, onWritten?: WriteCallback): WriteItem => {
      const item: WriteItem = { packets, onWritten, cancelled: false }
      if (Queue.offerUnsafe(outbox, item)) Wake.soon(outbox)
      else onWritten?.(lost("the connection is closed"))
      return item
    }

    // Taken from the outbox; `writing[settled..]` are not on the socket yet (their callbacks are pending).
    let writing: ReadonlyArray<WriteItem> = []
    let settled = 0
    const settle = (upTo: number, error: ConnectionFailure | undefined): void => {
      while (settled < upTo) {
        const item = writing[settled++]
        item?.onWritten?.(error)
      }
    }

    const writer = Effect.gen(function*() {
      while (true) {
        const items = yield* Queue.takeAll(outbox)
        writing = items
        settled = 0
        // Packets are validated before they reach the outbox; should one still not encode (a bug), the
        // connection ends and the items fail, instead of a dead writer that leaves everything waiting.
        const batch = yield* Effect.exit(Effect.sync(() => coalesce(items, encodeOptions, aliases)))
        if (Exit.isFailure(batch)) {
          const error = lost("a packet could not be encoded", batch.cause)
          settle(items.length, error)
          writing = []
          return yield* error
        }
        const { bytes, chunks, settles } = batch.value
        if (hook !== undefined) {
          // The items `coalesce` encoded (one may be cancelled while the hook runs: it is written anyway).
          const encoded = items.filter((item) => !item.cancelled)
          for (const item of encoded) for (const packet of item.packets) yield* observe(hook, "sent", packet)
        }
        liveness.unsent = bytes
        let limit = MIN_WRITE_BYTES // the most bytes the next socket write takes (see MIN_WRITE_BYTES)
        let i = 0 // the next chunk to write
        let offset = 0 // how much of it is written (a chunk larger than `limit` goes in slices)
        while (i < chunks.length) {
          let write: readonly [Uint8Array, ...Array<Uint8Array>]
          let size: number
          const chunk = chunks[i] as Uint8Array
          if (offset > 0 || chunk.length > limit) {
            // A large packet: a slice of it (a view, no copy).
            const slice = chunk.subarray(offset, offset + limit)
            write = [slice]
            size = slice.length
            offset += size
            if (offset === chunk.length) {
              i += 1
              offset = 0
            }
          } else if (i === 0 && bytes <= limit) {
            // The usual batch: all of it in one corked write.
            write = chunks as [Uint8Array, ...Array<Uint8Array>]
            size = bytes
            i = chunks.length
          } else {
            // Runs of small packets, up to `limit` bytes.
            let end = i + 1
            size = chunk.length
            while (end < chunks.length && size + (chunks[end] as Uint8Array).length <= limit) size += (chunks[end++] as Uint8Array).length
            write = [chunk, ...chunks.slice(i + 1, end)]
            i = end
          }
          const startedAt = yield* Clock.currentTimeMillis
          const written = yield* Effect.exit(channel.write(write))
          if (Exit.isFailure(written)) {
            const error = lost("writing to the socket failed", written.cause)
            settle(items.length, error)
            writing = []
            return yield* error
          }
          const now = yield* Clock.currentTimeMillis
          // When the socket took these bytes, and whether it made us wait for room (see KeepAlive).
          KeepAlive.sent(liveness, startedAt, now)
          liveness.unsent -= size
          if (offset === 0) settle(settles[i - 1] ?? 0, undefined) // each item as soon as its packets are written
          // Larger writes while the socket takes them at once; back to small ones when it makes us wait.
          limit = now - startedAt >= KeepAlive.FULL_WAIT_MILLIS ? MIN_WRITE_BYTES : size >= limit ? Math.min(2 * limit, MAX_WRITE_BYTES) : limit
        }
        settle(items.length, undefined)
        writing = []
      }
    })

    const reader = (onPacket: (packet: AnyPacket) => Effect.Effect<void, ProtocolError>) =>
      Effect.gen(function*() {
        for (const packet of early) yield* handle(packet, onPacket)
        while (true) {
          const chunks = yield* channel.pull.pipe(
            Effect.mapError((cause) =>
              cause.reason._tag === "SocketCloseError"
                ? lost("the broker closed the connection", cause)
                : lost("reading from the socket failed", cause)
            )
          )
          KeepAlive.received(liveness, yield* Clock.currentTimeMillis) // any byte proves the broker is alive
          // Handing packets on may wait for a slow subscriber; meanwhile the socket is not read.
          KeepAlive.handingOn(liveness)
          for (const chunk of chunks) {
            const packets = decoder.push(chunk)
            if (packets instanceof DecodeError) {
              // A packet above `maxPacketSize` is not malformed: say which limit it broke.
              const tooLarge = packets.message.includes("maxPacketSize")
              const what = tooLarge ? "a packet from the broker is too large" : "malformed packet from the broker"
              // MQTT 5.0: the DISCONNECT says which rule [MQTT-3.1.2-24] (section 4.13).
              return yield* new ProtocolError({ message: `${what}: ${packets.message}`, reasonCode: tooLarge ? 0x95 : 0x81 })
            }
            if (hook !== undefined) {
              for (const packet of packets) {
                yield* observe(hook, "received", packet)
                yield* handle(packet, onPacket)
              }
            } else {
              for (const packet of packets) {
                // Most packets are handled at once (Effect.void): no step through the runtime for them.
                const handled = handle(packet, onPacket)
                if (handled !== Effect.void) yield* handled
              }
            }
          }
          KeepAlive.reading(liveness, yield* Clock.currentTimeMillis)
        }
      })

    const handle = (
      packet: AnyPacket,
      onPacket: (packet: AnyPacket) => Effect.Effect<void, ProtocolError>
    ): Effect.Effect<void, ProtocolError | DisconnectedByServer> => {
      if (packet._tag === "Pingresp") return Effect.void
      // MQTT 5.0: the broker ends the connection with a reason [MQTT-3.14]; in 3.1.1 only a client sends DISCONNECT.
      if (packet._tag === "Disconnect" && "reasonCode" in packet) return Effect.fail(disconnectedByServer(packet.reasonCode, packet.properties))
      if (packet._tag === "Auth") return reauthenticating(packet)
      return onPacket(packet)
    }

    // --- MQTT 5.0 re-authentication [MQTT-4.12.1] ---------------------------------------------------
    let reauth: Deferred.Deferred<void, AuthenticationFailed | ConnectionEnd> | undefined
    const auth = version === 5 ? options.authentication : undefined

    /** The broker's AUTH during a re-authentication: answer a challenge, or finish. Runs in the reader. */
    const reauthenticating = (packet: Auth): Effect.Effect<void, ProtocolError> => {
      const pending = reauth
      if (auth === undefined || pending === undefined) {
        return Effect.fail(new ProtocolError({ message: "AUTH from the broker with no authentication in progress [MQTT-4.12.0-6]" }))
      }
      return Authentication.answer(auth, packet, "reauthenticate").pipe(
        Effect.matchEffect({
          onFailure: (error) => {
            if (error._tag === "ProtocolError") return Effect.fail(error)
            // A step of ours failed: the connection ends, and the next one authenticates afresh.
            reauth = undefined
            Deferred.doneUnsafe(pending, Exit.fail(error))
            abort(lost(`re-authentication failed: ${error.message}`, error))
            return Effect.void
          },
          onSuccess: (reply) => {
            if (reply === "done") {
              reauth = undefined
              Deferred.doneUnsafe(pending, Exit.void)
            } else {
              send([reply])
            }
            return Effect.void
          }
        })
      )
    }

    const reauthenticate: Effect.Effect<void, AuthenticationFailed | ConnectionEnd> = Effect.suspend(() => {
      if (reauth !== undefined) return Deferred.await(reauth) // one at a time: join the one in progress
      if (auth === undefined) {
        return Effect.fail(new AuthenticationFailed({ message: "reauthenticate needs the authentication option and MQTT 5.0" }))
      }
      const pending = Deferred.makeUnsafe<void, AuthenticationFailed | ConnectionEnd>()
      reauth = pending
      return Effect.andThen(
        Authentication.reauthenticateWith(auth).pipe(
          Effect.tap((packet) => Effect.sync(() => send([packet]))),
          Effect.tapError((error) =>
            Effect.sync(() => {
              reauth = undefined
              Deferred.doneUnsafe(pending, Exit.fail(error))
            })
          ),
          Effect.ignore
        ),
        Deferred.await(pending)
      )
    })

    const keepAlive = KeepAlive.run({
      keepAliveMillis,
      pingTimeoutMillis,
      liveness,
      sendPing: (written) =>
        send([{ _tag: "Pingreq" }], (error) => {
          if (error === undefined) written()
        })
    })

    /** Every write still pending settles with `ConnectionLost`: the writer's batch, then the queue. */
    const failPending = Effect.gen(function*() {
      const rest = [...writing.slice(settled), ...yield* Queue.clear(outbox).pipe(Effect.orElseSucceed(() => []))]
      writing = []
      settled = 0
      yield* Queue.shutdown(outbox) // later `send`s fail at once (offer is refused)
      if (rest.length === 0) return // the usual clean close: no error object (and its stack trace) to build
      const error = lost("the connection closed before the packet was written")
      for (const item of rest) item.onWritten?.(error)
    })

    /**
     * MQTT 5.0: the client says why it closes a connection whose broker broke the protocol (section 4.13),
     * best effort and bounded (the broker may not read any more).
     */
    const sayWhy = (end: ConnectionEnd): Effect.Effect<void> =>
      version !== 5 || end._tag !== "ProtocolError"
        ? Effect.void
        : channel.write([encode<5>({ _tag: "Disconnect", reasonCode: (end.reasonCode ?? 0x82) as 0x82 }, { protocolVersion: 5 })]).pipe(
          Effect.timeout("1 second"),
          Effect.ignore
        )

    const run = (onPacket: (packet: AnyPacket) => Effect.Effect<void, ProtocolError>): Effect.Effect<never, ConnectionEnd> =>
      Effect.gen(function*() {
        const fibers = [
          yield* Effect.forkChild(writer),
          yield* Effect.forkChild(reader(onPacket)),
          yield* Effect.forkChild(keepAlive)
        ]
        for (const fiber of fibers) {
          fiber.addObserver((exit) => {
            if (Exit.isFailure(exit)) Deferred.doneUnsafe(ended, exit)
          })
        }
        return yield* Deferred.await(ended).pipe(
          Effect.ensuring(Effect.andThen(Fiber.interruptAll(fibers), failPending)),
          Effect.tapError((end) =>
            Effect.sync(() => {
              // A re-authentication in progress ends with the connection (a refusing broker sends DISCONNECT).
              if (reauth !== undefined) Deferred.doneUnsafe(reauth, Exit.fail(end))
              reauth = undefined
            })
          ),
          Effect.tapError(sayWhy)
        )
      })

    const disconnect = (timeout: Duration.Input): Effect.Effect<void> =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        // MQTT 5.0: Normal disconnection (0): the broker discards the will [MQTT-3.14.4-3].
        const expiry = options.sessionExpiryOnClose
        const packet: AnyPacket = version === 4
          ? { _tag: "Disconnect" }
          : expiry === undefined
          ? { _tag: "Disconnect", reasonCode: 0 }
          : { _tag: "Disconnect", reasonCode: 0, properties: { sessionExpiryInterval: expiry } }
        send([packet], () => Deferred.doneUnsafe(done, Exit.void))
        yield* Deferred.await(done).pipe(Effect.timeout(timeout), Effect.ignore)
      })

    const abort = (cause: ConnectionEnd): void => {
      Deferred.doneUnsafe(ended, Exit.fail(cause))
    }

    return { sessionPresent: connack.sessionPresent, negotiated, send, run, abort, disconnect, reauthenticate }
  })

/** Up to this many bytes of small packets are encoded into one buffer: one copy, one socket write. */
const COALESCE_BYTES = 64 * 1024

/**
 * Socket writes take at least MIN_WRITE_BYTES (so runs of small packets are never split) and at most
 * MAX_WRITE_BYTES: a larger packet goes out in slices, so that the keep-alive sees the broker take
 * bytes during a long write (a 6 MB PUBLISH to a broker reading 1 MB/s). Each batch starts at the
 * minimum (64 KiB leave within a second down to about 64 KB/s) and doubles the size while the socket
 * takes the writes at once: a fast link pays for few writes.
 */
const MIN_WRITE_BYTES = COALESCE_BYTES
const MAX_WRITE_BYTES = 1024 * 1024

/** A batch of write items, encoded. */
interface Batch {
  readonly chunks: Array<Uint8Array>
  /** `settles[i]`: how many items are entirely written once `chunks[0..i]` are. */
  readonly settles: Array<number>
  readonly bytes: number
}

/** Encodes a batch of write items into few chunks: runs of small packets share one buffer. */
const coalesce = (
  items: ReadonlyArray<WriteItem>,
  options: { readonly protocolVersion: ProtocolVersion },
  aliases: OutgoingAliases | undefined
): Batch => {
  const chunks: Array<Uint8Array> = []
  const settles: Array<number> = []
  let bytes = 0
  let run: Array<AnyPacket> = []
  let runBytes = 0
  let complete = 0 // items whose every packet is in `chunks` or `run`
  const emit = (chunk: Uint8Array) => {
    chunks.push(chunk)
    settles.push(complete)
    bytes += chunk.length
  }
  const flush = () => {
    emit(encodeAll<ProtocolVersion>(run, options))
    run = []
    runBytes = 0
  }
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as WriteItem
    if (!item.cancelled) {
      for (const original of item.packets) {
        const packet = aliases !== undefined && original._tag === "Publish" ? aliases.apply(original) : original
        if (packet._tag === "Publish" && packet.payload.length >= Payloads.LARGE_PAYLOAD && Payloads.isOwned(packet.payload)) {
          // A large payload the client encoded itself is written as it is, not copied (see Payloads.ts): its
          // head ends the run, the payload follows (one vectored write). A caller's bytes are copied below.
          if (run.length > 0) flush()
          emit(encodePublishHead<ProtocolVersion>(packet, options))
          emit(packet.payload)
          continue
        }
        const size = encodedLength<ProtocolVersion>(packet, options)
        if (runBytes + size > COALESCE_BYTES && run.length > 0) flush()
        run.push(packet)
        runBytes += size
      }
    }
    complete = i + 1
  }
  if (run.length > 0) flush()
  return { chunks, settles, bytes }
}

/** The error of a DISCONNECT from the broker, with the reason code's standard name. */
const disconnectedByServer = (
  reasonCode: number,
  properties: { readonly reasonString?: string; readonly serverReference?: string } | undefined
): DisconnectedByServer =>
  new DisconnectedByServer({
    reasonCode,
    reason: reasonCodeName("Disconnect", reasonCode) ?? "Unspecified error",
    ...(properties?.reasonString !== undefined ? { reasonString: properties.reasonString } : {}),
    ...(properties?.serverReference !== undefined ? { serverReference: properties.serverReference } : {})
  })

/** A `ConnectionLost` whose message also names the underlying cause, so `status` and logs show it. */
const lost = (message: string, cause?: unknown): ConnectionLost => {
  if (cause === undefined) return new ConnectionLost({ message })
  const detail = causeMessage(cause)
  return new ConnectionLost({ message: detail === undefined ? message : `${message}: ${detail}`, cause })
}

const causeMessage = (cause: unknown): string | undefined => {
  if (Cause.isCause(cause)) return causeMessage(Cause.squash(cause))
  const inner = typeof cause === "object" && cause !== null && "reason" in cause ? (cause as { reason: unknown }).reason : cause
  const root = typeof inner === "object" && inner !== null && "cause" in inner && inner.cause instanceof Error ? inner.cause : inner
  if (!(root instanceof Error) || root.message === "") return undefined
  // A socket close carries only its code (1000: a normal close): say what it is.
  return /^\d+$/.test(root.message) ? (root.message === "1000" ? undefined : `close code ${root.message}`) : root.message
}
