/**
 * Variable Byte Integers [MQTT-1.5.5]: the remaining length, property lengths and subscription
 * identifiers. Seven bits per byte, least significant first, at most four bytes, and no more bytes
 * than the value needs [MQTT-1.5.5-1].
 *
 * @since 0.3.0
 */

/**
 * The largest Variable Byte Integer, 0xFF 0xFF 0xFF 0x7F.
 *
 * @since 0.3.0
 */
export const MAX_VARINT = 268_435_455

/** `readVarint`: the bytes end inside the integer. */
export const VARINT_INCOMPLETE = -1
/** `readVarint`: a fifth byte would be needed. */
export const VARINT_TOO_LONG = -2
/** `readVarint`: the last byte is 0, so fewer bytes would do [MQTT-1.5.5-1]. */
export const VARINT_NOT_MINIMAL = -3

/**
 * Reads the integer at `bytes[pos]`, looking no further than `end`. Returns `value * 8 + byteCount`
 * (one number, so nothing is allocated: `result >> 3` is the value, `result & 7` its size), or one
 * of the negative `VARINT_*` codes.
 *
 * @since 0.3.0
 */
export const readVarint = (bytes: Uint8Array, pos: number, end: number): number => {
  let value = 0
  let multiplier = 1
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return VARINT_INCOMPLETE
    const b = bytes[pos + i] as number
    value += (b & 0x7f) * multiplier
    if ((b & 0x80) === 0) {
      // A trailing zero byte adds nothing: the encoding is not the shortest one.
      if (b === 0 && i > 0) return VARINT_NOT_MINIMAL
      return value * 8 + i + 1
    }
    multiplier *= 128
  }
  return VARINT_TOO_LONG
}

/**
 * Bytes of the Variable Byte Integer `n`.
 *
 * @since 0.3.0
 */
export const varintSize = (n: number): number => (n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4)

/**
 * Writes `n` at `out[pos]`; returns the position after it.
 *
 * @since 0.3.0
 */
export const writeVarint = (out: Uint8Array, pos: number, n: number): number => {
  do {
    const digit = n % 128
    n = Math.floor(n / 128)
    out[pos++] = n > 0 ? digit | 0x80 : digit
  } while (n > 0)
  return pos
}
