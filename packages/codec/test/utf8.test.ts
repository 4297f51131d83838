/**
 * readUtf8's cache of recently decoded ASCII strings must never return another string: strings that
 * share a slot, have the same length, or differ in one byte all decode to themselves, in any order.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { readUtf8 } from "../src/decode/utf8.ts"

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
