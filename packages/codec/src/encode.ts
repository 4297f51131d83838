/**
 * Encoding of packets to bytes. The exact size is computed first, then the packet is written into a
 * single `Uint8Array` with plain byte stores: one allocation per packet.
 *
 * `encode` trusts its input: it assumes a schema-valid packet that also follows the wire rules
 * (every string accepted by `mqttStringError`: no U+0000, no unpaired surrogate, at most 65535 UTF-8
 * bytes; `packetId` present exactly when QoS > 0, valid topics, ...). It does not check them again:
 * an unpaired surrogate would go out as U+FFFD, i.e. as another string. Use `PacketFromBytes` (or
 * `packetError`) to encode with validation; `@aimeqtt/client` validates every string it sends with
 * `mqttStringError` (through `topicNameError`/`topicFilterError` for topics) before building a packet.
 *
 * @since 0.1.0
 */
import { utf8Length } from "./MqttString.ts"
import type { Connect, Packet, Publish, Subscribe, Unsubscribe } from "./Packet.ts"

const textEncoder = new TextEncoder()

// Small outputs are carved from a shared slab, as Node's Buffer pool does: a fresh typed array above
// 64 bytes gets its own off-heap backing store, which costs ~10x more than a view (measured on
// Node 22: 730 ns vs 60 ns for 100 bytes). A slab is never reused, so no bytes leak between packets.
const SLAB_SIZE = 64 * 1024
const POOLED_MAX = 4 * 1024
let slab = new ArrayBuffer(SLAB_SIZE)
let slabOffset = 0

// Large outputs skip zero-filling where Node's Buffer exists (the size is exact and every byte is
// written): zeroing a 64 KiB array cost ~17% of a 64 KiB PUBLISH encode. Browsers fall back to zeroed arrays.
const allocUnsafe = (globalThis as { readonly Buffer?: { allocUnsafe(size: number): Uint8Array } }).Buffer?.allocUnsafe

/** A `Uint8Array` of `size` bytes: a view of the slab when small, else its own buffer. */
const allocate = (size: number): Uint8Array => {
  if (size > POOLED_MAX) {
    if (allocUnsafe === undefined) return new Uint8Array(size)
    // Returned as is: a Node `Buffer` is a `Uint8Array`, and a second view over its memory made the
    // 64 KiB encode ~35% slower.
    return allocUnsafe(size)
  }
  if (slabOffset + size > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE)
    slabOffset = 0
  }
  const out = new Uint8Array(slab, slabOffset, size)
  slabOffset = (slabOffset + size + 7) & ~7 // keep views 8-byte aligned
  return out
}

/** Bytes of the remaining length varint [MQTT-2.2.3]. */
const varintLength = (n: number): number => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4)

/** A length-prefixed string field [MQTT-1.5.3]. */
const stringField = (s: string): number => 2 + utf8Length(s)

const connectLength = (p: Connect): number => {
  // Protocol name + level + flags + keep alive: "MQTT" or "MQIsdp" [MQTT-3.1.2.1].
  let n = p.protocolLevel === 4 ? 10 : 12
  n += stringField(p.clientId)
  if (p.will !== undefined) n += stringField(p.will.topic) + 2 + p.will.payload.length
  if (p.username !== undefined) n += stringField(p.username)
  if (p.password !== undefined) n += 2 + p.password.length
  return n
}

const subscribeLength = (p: Subscribe): number => {
  let n = 2
  for (const s of p.subscriptions) n += stringField(s.filter) + 1
  return n
}

const unsubscribeLength = (p: Unsubscribe): number => {
  let n = 2
  for (const f of p.filters) n += stringField(f)
  return n
}

const publishLength = (p: Publish): number => stringField(p.topic) + (p.qos > 0 ? 2 : 0) + p.payload.length

/** The remaining length of `p`: its size after the fixed header [MQTT-2.2.3]. */
const remainingLength = (p: Packet): number => {
  switch (p._tag) {
    case "Publish":
      return publishLength(p)
    case "Connect":
      return connectLength(p)
    case "Subscribe":
      return subscribeLength(p)
    case "Unsubscribe":
      return unsubscribeLength(p)
    case "Suback":
      return 2 + p.returnCodes.length
    case "Connack":
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
    case "Unsuback":
      return 2
    case "Pingreq":
    case "Pingresp":
    case "Disconnect":
      return 0
  }
}

/**
 * The number of bytes `encode(packet)` produces, fixed header included.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodedLength = (packet: Packet): number => {
  const rl = remainingLength(packet)
  return 1 + varintLength(rl) + rl
}

/** First byte: type in the high nibble, flags in the low one [MQTT-2.2]. */
const firstByte = (p: Packet): number => {
  switch (p._tag) {
    case "Connect":
      return 0x10
    case "Connack":
      return 0x20
    case "Publish":
      return 0x30 | (p.dup ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0)
    case "Puback":
      return 0x40
    case "Pubrec":
      return 0x50
    case "Pubrel":
      return 0x62 // reserved flags 0b0010 [MQTT-3.6.1-1]
    case "Pubcomp":
      return 0x70
    case "Subscribe":
      return 0x82 // [MQTT-3.8.1-1]
    case "Suback":
      return 0x90
    case "Unsubscribe":
      return 0xa2 // [MQTT-3.10.1-1]
    case "Unsuback":
      return 0xb0
    case "Pingreq":
      return 0xc0
    case "Pingresp":
      return 0xd0
    case "Disconnect":
      return 0xe0
  }
}

const writeU16 = (out: Uint8Array, pos: number, n: number): number => {
  out[pos] = n >> 8
  out[pos + 1] = n & 0xff
  return pos + 2
}

/**
 * Below this many UTF-16 units a byte loop beats `encodeInto`, whose call costs ~180 ns (measured on
 * Node 22: 26 ns vs 200 ns at 8 chars, even at ~32, `encodeInto` ahead from 64).
 */
const SHORT_STRING = 32

/**
 * Writes `s` after a 2-byte length, which is filled in once the string is written. Precondition:
 * `mqttStringError(s)` is undefined (see the module's note); `encodeInto` would write U+FFFD for an
 * unpaired surrogate.
 */
const writeString = (out: Uint8Array, pos: number, s: string): number => {
  const start = pos + 2
  let p = start
  const length = s.length
  let i = 0
  if (length < SHORT_STRING) {
    // ASCII fast path; the first non-ASCII unit hands the rest to encodeInto.
    for (; i < length; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) break
      out[p++] = c
    }
  }
  if (i < length) p += textEncoder.encodeInto(i === 0 ? s : s.slice(i), out.subarray(p)).written
  writeU16(out, pos, p - start)
  return p
}

const writeBytes = (out: Uint8Array, pos: number, bytes: Uint8Array): number => {
  out.set(bytes, pos)
  return pos + bytes.length
}

const writeConnect = (out: Uint8Array, pos: number, p: Connect): number => {
  pos = writeString(out, pos, p.protocolLevel === 4 ? "MQTT" : "MQIsdp")
  out[pos++] = p.protocolLevel
  const will = p.will
  let flags = p.cleanSession ? 0x02 : 0
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0)
  if (p.password !== undefined) flags |= 0x40
  if (p.username !== undefined) flags |= 0x80
  out[pos++] = flags
  pos = writeU16(out, pos, p.keepAlive)
  // Payload order is fixed: client id, will topic, will message, user name, password [MQTT-3.1.3-1].
  pos = writeString(out, pos, p.clientId)
  if (will !== undefined) {
    pos = writeString(out, pos, will.topic)
    pos = writeBytes(out, writeU16(out, pos, will.payload.length), will.payload)
  }
  if (p.username !== undefined) pos = writeString(out, pos, p.username)
  if (p.password !== undefined) pos = writeBytes(out, writeU16(out, pos, p.password.length), p.password)
  return pos
}

/** Writes the body of `p` at `pos`. */
const writeBody = (out: Uint8Array, pos: number, p: Packet): void => {
  switch (p._tag) {
    case "Publish":
      pos = writeString(out, pos, p.topic)
      if (p.qos > 0) pos = writeU16(out, pos, p.packetId ?? 0)
      out.set(p.payload, pos)
      return
    case "Connect":
      writeConnect(out, pos, p)
      return
    case "Connack":
      out[pos] = p.sessionPresent ? 1 : 0
      out[pos + 1] = p.returnCode
      return
    case "Subscribe":
      pos = writeU16(out, pos, p.packetId)
      for (const s of p.subscriptions) {
        pos = writeString(out, pos, s.filter)
        out[pos++] = s.qos
      }
      return
    case "Suback":
      pos = writeU16(out, pos, p.packetId)
      for (const code of p.returnCodes) out[pos++] = code
      return
    case "Unsubscribe":
      pos = writeU16(out, pos, p.packetId)
      for (const f of p.filters) pos = writeString(out, pos, f)
      return
    case "Puback":
    case "Pubrec":
    case "Pubrel":
    case "Pubcomp":
    case "Unsuback":
      writeU16(out, pos, p.packetId)
      return
    case "Pingreq":
    case "Pingresp":
    case "Disconnect":
      return
  }
}

/** Writes the fixed header and body of `packet` (remaining length `rl`) at `pos`; returns the end. */
const writePacket = (out: Uint8Array, start: number, packet: Packet, rl: number): number => {
  out[start] = firstByte(packet)
  // Remaining length varint, least significant 7 bits first [MQTT-2.2.3].
  let pos = start + 1
  let n = rl
  do {
    const digit = n % 128
    n = Math.floor(n / 128)
    out[pos++] = n > 0 ? digit | 0x80 : digit
  } while (n > 0)
  writeBody(out, pos, packet)
  return pos + rl
}

/**
 * Encodes `packet` to its MQTT 3.1.1 bytes, in one allocation.
 *
 * Results of at most 4 KiB are views into a shared 64 KiB `ArrayBuffer` (like Node's `Buffer`
 * pool): use `byteOffset`/`byteLength` rather than `.buffer` alone, and `slice()` a result to keep it
 * without retaining the slab. Larger results own their memory; on Node they are `Buffer`s (which are
 * `Uint8Array`s).
 *
 * Assumes a valid packet (see the module notes); invalid input gives meaningless bytes, but no
 * exception (a string with an unpaired surrogate is written with U+FFFD in its place). Validate first
 * with `Schema.encodeEffect(PacketFromBytes)` (or `packetError`) when the packet comes from outside.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (packet: Packet): Uint8Array => {
  const rl = remainingLength(packet)
  const out = allocate(1 + varintLength(rl) + rl)
  writePacket(out, 0, packet, rl)
  return out
}

/**
 * Encodes several packets back to back into one buffer (one allocation, one socket write): how the
 * client coalesces a batch of small packets. Same assumptions as {@link encode}.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeAll = (packets: ReadonlyArray<Packet>): Uint8Array => {
  if (packets.length === 1) return encode(packets[0] as Packet)
  const lengths = new Array<number>(packets.length)
  let total = 0
  for (let i = 0; i < packets.length; i++) {
    const rl = remainingLength(packets[i] as Packet)
    lengths[i] = rl
    total += 1 + varintLength(rl) + rl
  }
  const out = allocate(total)
  let pos = 0
  for (let i = 0; i < packets.length; i++) pos = writePacket(out, pos, packets[i] as Packet, lengths[i] as number)
  return out
}
