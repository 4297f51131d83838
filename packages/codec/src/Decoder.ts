/**
 * Incremental decoding of a byte stream into packets, for transports that deliver arbitrary chunks.
 *
 * Memory behaviour, by design:
 * - Complete packets inside a chunk are decoded straight from the chunk, without copying.
 * - An incomplete tail is kept by reference in a list of chunks (no copy, no growing buffer); the
 *   list is concatenated once, when the packet is complete. So every byte is copied at most once,
 *   whatever the chunk sizes: no quadratic re-copying of large payloads.
 * - The declared size is never allocated up front: a peer announcing 256 MB costs nothing until the
 *   bytes arrive, and a packet larger than `maxPacketSize` is rejected as soon as its header is read.
 *
 * @since 0.1.0
 */
import { Effect, Stream } from "effect"
import { DecodeError } from "./DecodeError.ts"
import { maxPacketSizeOf, protocolVersionOf, readBody } from "./decode.ts"
import type { DecodeOptions } from "./decode.ts"
import { readFixedHeader, sizeError } from "./internal/fixedHeader.ts"
import { decodeError } from "./internal/Reader.ts"
import { rulesOf } from "./internal/rules.ts"
import type { Packet } from "./Packet.ts"
import { packetName } from "./PacketType.ts"
import type { ProtocolVersion } from "./packets/fields.ts"

/**
 * A stateful decoder: {@link Decoder.push} chunks split at any byte boundary (even inside the
 * remaining-length varint) and get back the packets they complete.
 *
 * Pushed chunks are kept by reference until consumed, and decoded byte fields (e.g. PUBLISH
 * payloads) may be views of them: do not mutate a chunk after pushing it. After a `DecodeError` the
 * decoder stays failed and returns that same error from every later `push`.
 *
 * `options.protocolVersion` (4 by default) sets the version of the packets, and of the decoder's
 * type: `Decoder.make({ protocolVersion: 5 })` is a `Decoder<5>`, whose `push` gives `Packet<5>`s.
 *
 * @example
 * const decoder = Decoder.make({ maxPacketSize: 1024 * 1024 })
 * decoder.push(new Uint8Array([0xd0])) // []
 * decoder.push(new Uint8Array([0x00])) // [{ _tag: "Pingresp" }]
 *
 * @since 0.1.0
 * @category decoding
 */
export class Decoder<V extends ProtocolVersion = 4> {
  /**
   * A new decoder with the given options.
   *
   * @since 0.1.0
   */
  static make<V extends ProtocolVersion = 4>(options?: DecodeOptions<V>): Decoder<V> {
    return new Decoder(options)
  }

  /**
   * The largest packet accepted, fixed header included.
   *
   * @since 0.1.0
   */
  readonly maxPacketSize: number

  /**
   * The protocol version of the stream.
   *
   * @since 0.3.0
   */
  readonly protocolVersion: V

  /** The unread tail, as the chunks (or chunk suffixes) it arrived in. */
  #chunks: Array<Uint8Array> = []
  /** Total length of `#chunks`. */
  #buffered = 0
  /** Size of the pending packet once its fixed header is known, else -1. */
  #need = -1
  #error: DecodeError | undefined = undefined
  /** Room for a fixed header split across chunks (at most 5 bytes). */
  readonly #header = new Uint8Array(5)

  /**
   * A new decoder; same as {@link Decoder.make}.
   *
   * @since 0.1.0
   */
  constructor(options?: DecodeOptions<V>) {
    this.maxPacketSize = maxPacketSizeOf(options)
    this.protocolVersion = protocolVersionOf(options)
  }

  /**
   * Bytes received but not yet decoded: exactly the unread tail of the stream.
   *
   * @since 0.1.0
   */
  get bufferedBytes(): number {
    return this.#buffered
  }

  /**
   * How many chunks hold the unread tail. Chunks are kept as received, not merged: feeding a large
   * packet in `n` pieces leaves `n` chunks here until the packet is complete.
   *
   * @since 0.1.0
   */
  get bufferedChunks(): number {
    return this.#chunks.length
  }

  /**
   * The error that stopped this decoder, if any.
   *
   * @since 0.1.0
   */
  get error(): DecodeError | undefined {
    return this.#error
  }

  /**
   * Size in bytes of the packet being buffered, once its fixed header has arrived.
   *
   * @since 0.1.0
   */
  get pendingPacketSize(): number | undefined {
    return this.#need < 0 ? undefined : this.#need
  }

  /**
   * Feeds the next chunk of the stream; returns the packets it completes (possibly none), in order,
   * or the `DecodeError` that stops the decoder for good.
   *
   * @since 0.1.0
   */
  push(chunk: Uint8Array): Array<Packet<V>> | DecodeError {
    if (this.#error !== undefined) return this.#error
    const out: Array<Packet<V>> = []
    const error = this.#feed(chunk, out)
    return error === undefined ? out : error
  }

  #fail(error: DecodeError): DecodeError {
    this.#error = error
    this.#chunks = [] // release the buffered bytes
    this.#buffered = 0
    this.#need = -1
    return error
  }

  #feed(chunk: Uint8Array, out: Array<Packet<V>>): DecodeError | undefined {
    if (chunk.length === 0) return undefined
    if (this.#buffered === 0) return this.#scan(chunk, out)
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    if (this.#need < 0) {
      const error = this.#peekHeader()
      if (error !== undefined) return this.#fail(error)
      if (this.#need < 0) return undefined
    }
    if (this.#buffered < this.#need) return undefined
    return this.#assemble(out)
  }

  /** Decodes the complete packets of `chunk` in place; keeps the incomplete tail. */
  #scan(chunk: Uint8Array, out: Array<Packet<V>>): DecodeError | undefined {
    const end = chunk.length
    let offset = 0
    while (offset < end) {
      const header = readFixedHeader(chunk, offset, end, this.protocolVersion)
      if (header === undefined) break // the chunk ends inside a fixed header
      if (header instanceof DecodeError) return this.#fail(header)
      const tooBig = sizeError(header, this.maxPacketSize)
      if (tooBig !== undefined) return this.#fail(tooBig)
      const size = header.headerLength + header.remainingLength
      if (offset + size > end) {
        this.#need = size
        break
      }
      const packet = readBody<V>(header, chunk, offset + header.headerLength, offset + size, this.protocolVersion)
      if (packet instanceof DecodeError) return this.#fail(packet)
      out.push(packet)
      offset += size
    }
    if (offset < end) {
      this.#chunks.push(offset === 0 ? chunk : chunk.subarray(offset))
      this.#buffered = end - offset
    }
    return undefined
  }

  /** Reads a fixed header split across the buffered chunks, copying at most 5 bytes. */
  #peekHeader(): DecodeError | undefined {
    const header = this.#header
    let n = 0
    for (const chunk of this.#chunks) {
      for (let i = 0; i < chunk.length && n < 5; i++) header[n++] = chunk[i] as number
      if (n === 5) break
    }
    const result = readFixedHeader(header, 0, n, this.protocolVersion)
    if (result === undefined) return undefined
    if (result instanceof DecodeError) return result
    const tooBig = sizeError(result, this.maxPacketSize)
    if (tooBig !== undefined) return tooBig
    this.#need = result.headerLength + result.remainingLength
    return undefined
  }

  /** Concatenates the buffered chunks once the pending packet is complete, then decodes it. */
  #assemble(out: Array<Packet<V>>): DecodeError | undefined {
    const need = this.#need
    const chunks = this.#chunks
    const bytes = new Uint8Array(need)
    let filled = 0
    let i = 0
    let rest: Uint8Array | undefined
    for (; i < chunks.length && filled < need; i++) {
      const chunk = chunks[i] as Uint8Array
      const take = Math.min(chunk.length, need - filled)
      bytes.set(take === chunk.length ? chunk : chunk.subarray(0, take), filled)
      filled += take
      if (take < chunk.length) rest = chunk.subarray(take)
    }
    // Only the newest chunk can reach past the packet, but stay correct for any split.
    const leftovers = chunks.slice(i)
    this.#chunks = []
    this.#buffered = 0
    this.#need = -1
    const header = readFixedHeader(bytes, 0, need, this.protocolVersion)
    if (header === undefined || header instanceof DecodeError) {
      return this.#fail(header ?? decodeError("unreadable fixed header [MQTT-2.2]"))
    }
    const packet = readBody<V>(header, bytes, header.headerLength, need, this.protocolVersion)
    if (packet instanceof DecodeError) return this.#fail(packet)
    out.push(packet)
    if (rest !== undefined) {
      const error = this.#feed(rest, out)
      if (error !== undefined) return error
    }
    for (const chunk of leftovers) {
      const error = this.#feed(chunk, out)
      if (error !== undefined) return error
    }
    return undefined
  }

  /**
   * A `DecodeError` if the stream ended inside a packet, else `undefined`.
   *
   * @since 0.1.0
   */
  end(): DecodeError | undefined {
    if (this.#error !== undefined) return this.#error
    if (this.#buffered === 0) return undefined
    const first = (this.#chunks[0]?.[0] ?? 0) >> 4
    const expected = this.#need < 0 ? "its fixed header" : `${this.#need} bytes`
    return this.#fail(decodeError(
      `stream ended inside a ${packetName(first, this.protocolVersion)} packet: ${this.#buffered} bytes of ${expected} ${
        rulesOf(this.protocolVersion).remainingLength
      }`,
      first
    ))
  }
}

/**
 * Decodes a stream of byte chunks into a stream of packets with a fresh {@link Decoder} per run.
 * Fails with the first `DecodeError`, including when the byte stream ends inside a packet.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeStream = <V extends ProtocolVersion = 4>(options?: DecodeOptions<V>) =>
<E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Packet<V>, E | DecodeError, R> =>
  Stream.suspend(() => {
    const decoder = new Decoder<V>(options)
    const decoded = self.pipe(
      Stream.mapAccumArrayEffect(
        () => decoder,
        (d, chunks) => {
          const packets: Array<Packet<V>> = []
          for (const chunk of chunks) {
            const result = d.push(chunk)
            if (result instanceof DecodeError) return Effect.fail(result)
            for (const packet of result) packets.push(packet)
          }
          return Effect.succeed([d, packets] as const)
        }
      )
    )
    return Stream.concat(
      decoded,
      Stream.suspend(() => {
        const error = decoder.end()
        return error === undefined ? Stream.empty : Stream.fail(error)
      })
    )
  })
