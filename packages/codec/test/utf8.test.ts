/**
 * MQTT UTF-8 strings [MQTT-1.5.3], on both sides.
 *
 * readUtf8's cache of recently decoded ASCII strings must never return another string: strings that
 * share a slot, have the same length, or differ in one byte all decode to themselves, in any order.
 *
 * mqttStringError, the one check of strings before they are encoded, accepts exactly the strings that
 * go on the wire unchanged: no unpaired surrogate (TextEncoder would write U+FFFD), no U+0000, at most
 * 65535 bytes; and whatever it accepts, the strict decoder reads back as the same string.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { readUtf8 } from "../src/decode/utf8.ts"
import { type Connect, decodePacket, encode, MAX_STRING_BYTES, mqttStringError, utf8Length } from "../src/index.ts"

const utf8 = new TextEncoder()

/** `text` encoded at an offset inside a larger buffer, as topics sit inside a packet. */
const embedded = (text: string): [Uint8Array, number, number] => {
  const body = utf8.encode(text)
  const bytes = new Uint8Array(body.length + 7)
  bytes.set(body, 3)
  return [bytes, 3, 3 + body.length]
}

describe("readUtf8 cache", () => {
  it("strings of one length differing in one byte each decode to themselves, repeatedly", () => {
    const texts = Array.from({ length: 600 }, (_, i) => `sensors/room-${String(i).padStart(4, "0")}/temp`)
    for (let round = 0; round < 3; round++) {
      for (const text of texts) assert.strictEqual(readUtf8(...embedded(text)), text)
    }
  })

  it("any sequence of ASCII and non-ASCII strings decodes each to itself", () => {
    const ascii = fc.string({ unit: fc.integer({ min: 1, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 300 })
    const text = fc.oneof(ascii, fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !s.includes("\u0000")))
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 50 }), fc.array(fc.nat(), { maxLength: 100 }), (texts, order) => {
        for (const i of [...texts.keys(), ...order]) {
          const t = texts[i % texts.length]!
          assert.strictEqual(readUtf8(...embedded(t)), t)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("a NUL is still refused after the same bytes without it were cached", () => {
    assert.strictEqual(readUtf8(...embedded("a/b/c/d/e/f/g/h")), "a/b/c/d/e/f/g/h")
    const result = readUtf8(...embedded("a/b/c/d\u0000e/f/g/h"))
    assert.notStrictEqual(typeof result, "string")
  })
})

describe("mqttStringError", () => {
  const unpaired = (unit: string, index: number) =>
    `clientId contains an unpaired surrogate (U+${unit} at index ${index}), which is not well-formed UTF-8 [MQTT-1.5.3-1]`

  it("refuses an unpaired surrogate wherever it is [MQTT-1.5.3-1]", () => {
    assert.strictEqual(mqttStringError("sensor/\uD83C", "clientId"), unpaired("D83C", 7)) // high, at the end
    assert.strictEqual(mqttStringError("a\uD83Cb", "clientId"), unpaired("D83C", 1)) // high, in the middle
    assert.strictEqual(mqttStringError("\uD83C\uD83C\uDF21", "clientId"), unpaired("D83C", 0)) // high before a pair
    assert.strictEqual(mqttStringError("\uDC00", "clientId"), unpaired("DC00", 0)) // low, alone
    assert.strictEqual(mqttStringError("x\uDF21", "clientId"), unpaired("DF21", 1)) // low, without its high
    assert.strictEqual(mqttStringError("\uDE00\uD83D", "clientId"), unpaired("DE00", 0)) // a pair reversed
  })

  it("refuses U+0000 [MQTT-1.5.3-2]", () => {
    assert.strictEqual(mqttStringError("a\u0000", "username"), "username contains the null character U+0000 [MQTT-1.5.3-2]")
    assert.strictEqual(mqttStringError("\u0000", "username"), "username contains the null character U+0000 [MQTT-1.5.3-2]")
  })

  it("refuses more than 65535 bytes in UTF-8 [MQTT-1.5.3], counting a pair as 4 bytes", () => {
    const tooLong = "clientId is longer than 65535 bytes in UTF-8 [MQTT-1.5.3]"
    assert.isUndefined(mqttStringError("a".repeat(MAX_STRING_BYTES), "clientId"))
    assert.strictEqual(mqttStringError("a".repeat(MAX_STRING_BYTES + 1), "clientId"), tooLong)
    assert.isUndefined(mqttStringError("€".repeat(21845), "clientId"))
    assert.strictEqual(mqttStringError("€".repeat(21845) + "a", "clientId"), tooLong)
    assert.isUndefined(mqttStringError("😀".repeat(16383) + "aaa", "clientId"))
    assert.strictEqual(mqttStringError("😀".repeat(16384), "clientId"), tooLong)
  })

  it("never quotes the string itself, only its field", () => {
    for (const s of ["s3cr3t-user\uD800", "s3cr3t-user\u0000", "s3cr3t-user".repeat(7000)]) {
      const reason = mqttStringError(s, "username")
      assert.isDefined(reason)
      assert.isTrue(reason?.startsWith("username "))
      assert.notInclude(reason, "s3cr3t")
    }
  })

  it("accepts pairs, U+FEFF (kept, [MQTT-1.5.3-3]), control characters and noncharacters (SHOULD NOT only)", () => {
    for (const s of ["", "sensor/🌡", "😀", "\uDBFF\uDFFF", "\uD800\uDC00", "\uFEFF", "\uFEFFa", "a\uFEFF", "\u0001", "\u001F", "\u007F", "\u009F", "\uFFFE", "\uFFFF", "\uFDD0", "\uD83F\uDFFF"]) {
      assert.isUndefined(mqttStringError(s, "clientId"), JSON.stringify(s))
    }
  })

  /** Any UTF-16 string: random code units (lone surrogates and U+0000 included) mixed with the cases above. */
  const anyUnit = fc.oneof(
    fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.constantFrom("\uD83C", "\uDC00", "\uD83D\uDE00", "\u0000", "\uFEFF", "\uFFFF", "a", "/", "é", "€"),
    fc.string({ unit: "grapheme", maxLength: 3 })
  )
  const short = fc.string({ unit: anyUnit, maxLength: 40 })
  /** Short strings, and long ones (repeated) around the 65535-byte limit. */
  const anyString = fc.oneof(
    { weight: 4, arbitrary: short },
    {
      weight: 1,
      arbitrary: fc.tuple(short.filter((s) => s.length > 0), fc.integer({ min: 15_000, max: 70_000 }))
        .map(([s, n]) => s.repeat(Math.ceil(n / s.length)).slice(0, n))
    }
  )
  const encoder = new TextEncoder()
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

  it("accepts exactly the strings without U+0000 that survive TextEncoder/TextDecoder and fit in 65535 bytes", () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const bytes = encoder.encode(s)
        const expected = decoder.decode(bytes) === s && !s.includes("\u0000") && bytes.length <= MAX_STRING_BYTES
        assert.strictEqual(mqttStringError(s, "s") === undefined, expected, JSON.stringify(s.slice(0, 60)))
        assert.strictEqual(utf8Length(s), bytes.length)
      }),
      { numRuns: 2000 }
    )
  })

  it("whatever it accepts, the strict decoder reads back unchanged (as a CONNECT client identifier)", () => {
    fc.assert(
      fc.property(short, (clientId) => {
        if (mqttStringError(clientId, "clientId") !== undefined) return
        const connect: Connect = { _tag: "Connect", protocolLevel: 4, clientId, cleanSession: true, keepAlive: 0 }
        const decoded = decodePacket(encode(connect))
        assert.deepStrictEqual(decoded, connect)
      }),
      { numRuns: 2000 }
    )
  })
})
