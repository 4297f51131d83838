/**
 * The streaming decoder's memory and failure behaviour, and `decodeStream`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { DecodeError, Decoder, decodeStream, encode } from "../src/index.ts"
import type { Packet, Publish } from "../src/index.ts"
import { hex } from "./arbitraries.ts"

const publish = (size: number, packetId = 1): Publish => {
  const payload = new Uint8Array(size)
  for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff
  return { _tag: "Publish", topic: "big/file", payload, qos: 1, retain: false, dup: false, packetId }
}

const asPackets = (result: Array<Packet> | DecodeError): Array<Packet> => {
  expect(result).not.toBeInstanceOf(DecodeError)
  return result as Array<Packet>
}

describe("Decoder", () => {
  it("buffers a 16 MiB PUBLISH fed in 1 KiB chunks by reference, copying it once", () => {
    const big = publish(16 * 1024 * 1024)
    const ping = encode({ _tag: "Pingresp" })
    const encoded = encode(big)
    const stream = new Uint8Array(encoded.length + ping.length)
    stream.set(encoded)
    stream.set(ping, encoded.length)
    const decoder = Decoder.make()
    const chunk = 1024
    let pushed = 0
    let chunks = 0
    let packets: Array<Packet> = []
    while (pushed < stream.length) {
      const piece = stream.subarray(pushed, pushed + chunk)
      const result = asPackets(decoder.push(piece))
      pushed += piece.length
      chunks++
      if (pushed < encoded.length) {
        expect(result).toEqual([])
        // Invariant: the decoder holds exactly the unread tail, as the chunks it was given (never
        // merged, so never re-copied), and knows the packet size from the header.
        if (decoder.bufferedBytes !== pushed || decoder.bufferedChunks !== chunks) {
          expect([decoder.bufferedBytes, decoder.bufferedChunks]).toEqual([pushed, chunks])
        }
        expect(decoder.pendingPacketSize).toBe(encoded.length)
      } else {
        packets = packets.concat(result)
      }
    }
    expect(packets.length).toBe(2)
    const [first, second] = packets
    expect(first?._tag).toBe("Publish")
    if (first?._tag === "Publish") {
      expect(Buffer.from(first.payload).equals(big.payload)).toBe(true)
      expect({ ...first, payload: null }).toEqual({ ...big, payload: null })
    }
    expect(second).toEqual({ _tag: "Pingresp" })
    expect(decoder.bufferedBytes).toBe(0)
    expect(decoder.bufferedChunks).toBe(0)
  })

  it("fails right after the header of a declared 256 MB packet with maxPacketSize 1 MiB", () => {
    const decoder = Decoder.make({ maxPacketSize: 1024 * 1024 })
    // Split inside the varint: 0x30, then ff ff ff 7f (268,435,455).
    expect(decoder.push(hex("30 ff"))).toEqual([])
    expect(decoder.bufferedBytes).toBe(2)
    const result = decoder.push(hex("ff ff 7f"))
    expect(result).toBeInstanceOf(DecodeError)
    expect((result as DecodeError).message).toBe("PUBLISH of 268435460 bytes exceeds maxPacketSize 1048576")
    expect(decoder.bufferedBytes).toBe(0)
  })

  it("fails on the fast path too, before any body byte", () => {
    const decoder = Decoder.make({ maxPacketSize: 1024 * 1024 })
    const result = decoder.push(hex("d0 00 30 ff ff ff 7f"))
    expect((result as DecodeError).message).toBe("PUBLISH of 268435460 bytes exceeds maxPacketSize 1048576")
  })

  it("does not allocate the declared size of an incomplete packet", () => {
    const decoder = Decoder.make()
    expect(decoder.push(hex("30 ff ff ff 7f 0001 74"))).toEqual([])
    expect(decoder.push(new Uint8Array(1024))).toEqual([])
    // Only what arrived is held, by reference.
    expect(decoder.bufferedBytes).toBe(8 + 1024)
    expect(decoder.bufferedChunks).toBe(2)
    expect(decoder.pendingPacketSize).toBe(268_435_460)
  })

  it("accepts a split inside the remaining length varint", () => {
    const p = publish(20_000) // remaining length needs 3 bytes
    const bytes = encode(p)
    for (const at of [1, 2, 3, 4, 5]) {
      const decoder = Decoder.make()
      expect(decoder.push(bytes.subarray(0, at))).toEqual([])
      expect(decoder.pendingPacketSize).toBe(at >= 4 ? bytes.length : undefined)
      expect(decoder.push(bytes.subarray(at))).toEqual([p])
    }
  })

  it("stays failed after a DecodeError, returning the same error", () => {
    const decoder = Decoder.make()
    expect(decoder.push(hex("d0 00"))).toEqual([{ _tag: "Pingresp" }])
    const error = decoder.push(hex("36 00"))
    expect(error).toBeInstanceOf(DecodeError)
    expect((error as DecodeError).message).toBe("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
    expect(decoder.push(hex("d0 00"))).toBe(error)
    expect(decoder.error).toBe(error)
    expect(decoder.end()).toBe(error)
  })

  it("fails on a bad body split across chunks", () => {
    const decoder = Decoder.make()
    expect(decoder.push(hex("40 02 00"))).toEqual([])
    const error = decoder.push(hex("00 d0 00"))
    expect((error as DecodeError).message).toBe("PUBACK with packet identifier 0 [MQTT-2.3.1-1]")
  })

  it("end() reports a stream that stops inside a packet", () => {
    const decoder = Decoder.make()
    expect(decoder.end()).toBeUndefined()
    decoder.push(hex("30 05 00"))
    expect(decoder.end()?.message).toBe(
      "stream ended inside a PUBLISH packet: 3 bytes of 7 bytes [MQTT-2.2.3]"
    )
    const other = Decoder.make()
    other.push(hex("30 80"))
    expect(other.end()?.message).toBe(
      "stream ended inside a PUBLISH packet: 2 bytes of its fixed header [MQTT-2.2.3]"
    )
  })

  it("ignores empty chunks", () => {
    const decoder = new Decoder()
    expect(decoder.push(new Uint8Array(0))).toEqual([])
    decoder.push(hex("c0"))
    expect(decoder.push(new Uint8Array(0))).toEqual([])
    expect(decoder.push(hex("00"))).toEqual([{ _tag: "Pingreq" }])
  })
})

describe("decodeStream", () => {
  const packets: Array<Packet> = [
    { _tag: "Connack", sessionPresent: false, returnCode: 0 },
    { _tag: "Publish", topic: "a", payload: new Uint8Array([1, 2, 3]), qos: 0, retain: false, dup: false },
    { _tag: "Suback", packetId: 3, returnCodes: [1, 0x80] }
  ]
  const bytes = Uint8Array.from(packets.flatMap((p) => [...encode(p)]))

  it.effect("decodes a chunked byte stream", () =>
    Effect.gen(function*() {
      const chunks = [bytes.subarray(0, 3), bytes.subarray(3, 9), bytes.subarray(9)]
      const out = yield* Stream.fromIterable(chunks).pipe(decodeStream(), Stream.runCollect)
      expect(out).toEqual(packets)
    }))

  it.effect("uses a fresh decoder per run", () =>
    Effect.gen(function*() {
      const stream = Stream.make(bytes.subarray(0, 5), bytes.subarray(5)).pipe(decodeStream())
      expect(yield* Stream.runCollect(stream)).toEqual(packets)
      expect(yield* Stream.runCollect(stream)).toEqual(packets)
    }))

  it.effect("fails with the DecodeError", () =>
    Effect.gen(function*() {
      const error = yield* Stream.make(hex("d0 00"), hex("f0 00")).pipe(decodeStream(), Stream.runCollect, Effect.flip)
      expect(error).toBeInstanceOf(DecodeError)
      expect(error.message).toBe("reserved packet type 15 [MQTT-2.2.1]")
    }))

  it.effect("fails when the byte stream ends inside a packet", () =>
    Effect.gen(function*() {
      const error = yield* Stream.make(hex("d0 00 40 02 00")).pipe(decodeStream(), Stream.runCollect, Effect.flip)
      expect(error.message).toBe("stream ended inside a PUBACK packet: 3 bytes of 4 bytes [MQTT-2.2.3]")
    }))

  it.effect("passes upstream errors through", () =>
    Effect.gen(function*() {
      const error = yield* Stream.concat(Stream.make(hex("d0 00")), Stream.fail("boom" as const)).pipe(
        decodeStream({ maxPacketSize: 100 }),
        Stream.runCollect,
        Effect.flip
      )
      expect(error).toBe("boom")
    }))
})
