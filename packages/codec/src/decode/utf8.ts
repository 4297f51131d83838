/**
 * Strict decoding of MQTT UTF-8 strings [MQTT-1.5.4]: well-formed UTF-8 only (no overlong forms,
 * no surrogates U+D800..U+DFFF, nothing above U+10FFFF) [MQTT-1.5.4-1], and no U+0000 [MQTT-1.5.4-2].
 *
 * Validation is done by hand so that a bad string is a value, not a thrown `TypeError` as with a
 * `fatal` `TextDecoder`; a validated string is then decoded with a non-fatal decoder. A leading BOM is
 * kept, never stripped [MQTT-1.5.4-3].
 *
 * @since 0.1.0
 */

/**
 * Why a byte sequence is not an MQTT string: not well-formed [MQTT-1.5.4-1], or holding U+0000
 * [MQTT-1.5.4-2] (`nul`). The reader words the message, citing the rule of its protocol version.
 *
 * @since 0.1.0
 */
export interface Utf8Failure {
  readonly nul: boolean
}

const INVALID: Utf8Failure = { nul: false }
const NUL: Utf8Failure = { nul: true }

// ignoreBOM keeps a leading U+FEFF in the string [MQTT-1.5.4-3].
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true })

/** Very short ASCII strings are built directly: cheaper than a call into TextDecoder (~250 ns). */
const SHORT_ASCII = 12

/**
 * Recently decoded ASCII strings (topics, mostly: a stream of messages repeats a few), in slots
 * picked by a hash of their bytes. A hit costs one pass over the bytes and allocates nothing; a miss
 * only overwrites its slot.
 */
const CACHE_SLOTS = 256
const CACHE_MAX_LENGTH = 256
const cache: Array<string | undefined> = new Array(CACHE_SLOTS).fill(undefined)

/**
 * Decodes `bytes[start, end)` as an MQTT UTF-8 string, or says why it is not one.
 *
 * @since 0.1.0
 */
export const readUtf8 = (bytes: Uint8Array, start: number, end: number): string | Utf8Failure => {
  let i = start
  let hash = 0x811c9dc5 // FNV-1a over the ASCII prefix
  for (; i < end; i++) {
    const b = bytes[i] as number
    if (b >= 0x80) break
    if (b === 0) return NUL
    hash = Math.imul(hash ^ b, 0x01000193)
  }
  if (i === end) {
    const length = end - start
    if (length > CACHE_MAX_LENGTH) return textDecoder.decode(bytes.subarray(start, end))
    const slot = (hash >>> 0) % CACHE_SLOTS
    const cached = cache[slot]
    if (cached !== undefined && cached.length === length && sameAscii(cached, bytes, start)) return cached
    let s = ""
    if (length > SHORT_ASCII) s = textDecoder.decode(bytes.subarray(start, end))
    else for (let j = start; j < end; j++) s += String.fromCharCode(bytes[j] as number)
    cache[slot] = s
    return s
  }
  const failure = validateFrom(bytes, i, end)
  return failure ?? textDecoder.decode(bytes.subarray(start, end))
}

/** Whether the ASCII string `s` is `bytes[start, start + s.length)`. */
const sameAscii = (s: string, bytes: Uint8Array, start: number): boolean => {
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) !== bytes[start + k]) return false
  return true
}

/** Whether `b` is a continuation byte 10xxxxxx. */
const cont = (b: number | undefined): boolean => b !== undefined && (b & 0xc0) === 0x80

/** Checks `bytes[i, end)` against the well-formed byte sequences of Unicode Table 3-7. */
const validateFrom = (bytes: Uint8Array, i: number, end: number): Utf8Failure | undefined => {
  while (i < end) {
    const b = bytes[i] as number
    if (b < 0x80) {
      if (b === 0) return NUL
      i++
    } else if (b >= 0xc2 && b <= 0xdf) {
      if (i + 1 >= end || !cont(bytes[i + 1])) return INVALID
      i += 2
    } else if (b >= 0xe0 && b <= 0xef) {
      if (i + 2 >= end) return INVALID
      const b1 = bytes[i + 1] as number
      // E0 needs A0..BF (no overlong); ED needs 80..9F (no surrogates).
      const lo = b === 0xe0 ? 0xa0 : 0x80
      const hi = b === 0xed ? 0x9f : 0xbf
      if (b1 < lo || b1 > hi || !cont(bytes[i + 2])) return INVALID
      i += 3
    } else if (b >= 0xf0 && b <= 0xf4) {
      if (i + 3 >= end) return INVALID
      const b1 = bytes[i + 1] as number
      // F0 needs 90..BF (no overlong); F4 needs 80..8F (at most U+10FFFF).
      const lo = b === 0xf0 ? 0x90 : 0x80
      const hi = b === 0xf4 ? 0x8f : 0xbf
      if (b1 < lo || b1 > hi || !cont(bytes[i + 2]) || !cont(bytes[i + 3])) return INVALID
      i += 4
    } else {
      return INVALID // 80..C1 (stray continuation, overlong lead) or F5..FF
    }
  }
  return undefined
}
