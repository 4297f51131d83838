/**
 * The one rule for strings the codec writes: an MQTT UTF-8 encoded string [MQTT-1.5.3] is
 * well-formed UTF-8 [MQTT-1.5.3-1], holds no U+0000 [MQTT-1.5.3-2] and is at most 65535 bytes long.
 *
 * A JavaScript string is UTF-16: the only way it can fail to be well-formed UTF-8 is an unpaired
 * surrogate (e.g. a string cut inside an emoji, `"sensor/\uD83C"`). `TextEncoder` would write such
 * a unit as U+FFFD, so the bytes on the wire would name another topic than the one given; the string
 * is refused instead. The decoding side of the same rule, on bytes, is `readUtf8` (decode/utf8.ts).
 *
 * Accepted, as the specification allows: U+FEFF anywhere, kept as is [MQTT-1.5.3-3]; control
 * characters U+0001..U+001F and U+007F..U+009F, and noncharacters such as U+FFFF, which a sender
 * "SHOULD NOT" use [MQTT-1.5.3]. The strict decoder accepts them too, so what is sent decodes. The
 * client also refuses those in topics (see {@link discouragedCodePointError}): the reference broker
 * closes the connection on them.
 *
 * @since 0.1.0
 */

/**
 * The largest length in bytes of an MQTT UTF-8 encoded string: its length prefix is two bytes [MQTT-1.5.3].
 *
 * @since 0.1.0
 * @category validation
 */
export const MAX_STRING_BYTES = 65535

/** A string of at most this many UTF-16 code units cannot exceed 65535 UTF-8 bytes (3 bytes per unit at most). */
const ALWAYS_SHORT_ENOUGH = 21845

/**
 * The length of `s` in UTF-8, without allocating: a surrogate pair is one 4-byte code point. An
 * unpaired surrogate counts 3 bytes (as `TextEncoder` writes U+FFFD for it), but such a string is
 * refused by {@link mqttStringError} before it is ever encoded.
 *
 * @since 0.1.0
 * @category validation
 */
export const utf8Length = (s: string): number => {
  const length = s.length
  let bytes = length
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) bytes += 1
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2 // 2 code units -> 4 bytes
      i++
    } else bytes += 2
  }
  return bytes
}

const hex4 = (c: number): string => c.toString(16).toUpperCase().padStart(4, "0")

/**
 * Why `s` cannot be sent as an MQTT UTF-8 encoded string [MQTT-1.5.3], or `undefined` when it can.
 * `field` names the string at the start of the reason, e.g. `"clientId"`; the reason never quotes
 * the string itself (it may be a user name), only the offending code unit and its index.
 *
 * Refused: an unpaired surrogate, which is not well-formed UTF-8 [MQTT-1.5.3-1]; U+0000
 * [MQTT-1.5.3-2]; more than 65535 bytes in UTF-8 [MQTT-1.5.3]. Everything else is accepted,
 * U+FEFF, control characters and noncharacters included (see the module's note).
 *
 * Accepts exactly the strings without U+0000 that survive `TextEncoder` then `TextDecoder`
 * unchanged and fit in 65535 bytes. Scans the string once and allocates only for a reason.
 *
 * @example
 * mqttStringError("sensor/🌡", "topic name") // undefined
 * mqttStringError("sensor/\uD83C", "topic name")
 * // "topic name contains an unpaired surrogate (U+D83C at index 7), which is not well-formed UTF-8 [MQTT-1.5.3-1]"
 *
 * @since 0.1.0
 * @category validation
 */
export const mqttStringError = (s: string, field: string): string | undefined => {
  const length = s.length
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800) {
      if (c === 0) return `${field} contains the null character U+0000 [MQTT-1.5.3-2]`
    } else if (c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++ // a pair
      else {
        return `${field} contains an unpaired surrogate (U+${hex4(c)} at index ${i}), ` +
          "which is not well-formed UTF-8 [MQTT-1.5.3-1]"
      }
    }
  }
  return length > ALWAYS_SHORT_ENOUGH && (length > MAX_STRING_BYTES || utf8Length(s) > MAX_STRING_BYTES)
    ? `${field} is longer than ${MAX_STRING_BYTES} bytes in UTF-8 [MQTT-1.5.3]`
    : undefined
}

/**
 * Why `s` holds a code point that a sender "SHOULD NOT" put in a string [MQTT-1.5.3], or `undefined`:
 * control characters U+0001..U+001F and U+007F..U+009F, and noncharacters (U+FDD0..U+FDEF and the last
 * two code points of every plane, such as U+FFFF or U+1FFFE). Run after {@link mqttStringError}.
 *
 * mosquitto 2.0 (the reference broker) closes the connection of a client that sends one in a topic
 * ("malformed packet"); a client that re-sent the request after reconnecting would loop forever and the
 * request would never settle. So the client refuses them in the topic names and filters it sends,
 * before anything is sent. The codec itself (the decoder, `topicNameError`, `PacketFromBytes`) keeps
 * to the specification's MUST rules and accepts them.
 *
 * @since 0.2.0
 * @category validation
 */
export const discouragedCodePointError = (s: string, field: string): string | undefined => {
  const length = s.length
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x20 && c < 0x7f) continue // the common case
    let codePoint = c
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < length) {
      codePoint = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00)
      i++
    }
    const control = codePoint < 0x20 || (codePoint >= 0x7f && codePoint <= 0x9f)
    const nonCharacter = (codePoint >= 0xfdd0 && codePoint <= 0xfdef) || (codePoint & 0xfffe) === 0xfffe
    if (control || nonCharacter) {
      return `${field} contains ${control ? "the control character" : "the noncharacter"} U+${hex4(codePoint)}, which a sender ` +
        "should not use [MQTT-1.5.3] and mosquitto refuses as a malformed packet"
    }
  }
  return undefined
}

/**
 * {@link mqttStringError}, then {@link discouragedCodePointError}: the check for a string a client is about
 * to send (a topic, a filter, its client identifier, its user name), which the reference broker must not
 * take for a malformed packet.
 *
 * @since 0.2.0
 * @category validation
 */
export const outgoingStringError = (s: string, field: string): string | undefined =>
  mqttStringError(s, field) ?? discouragedCodePointError(s, field)
