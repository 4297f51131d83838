/**
 * `sub -F FORMAT`: the common subset of `mosquitto_sub -F`.
 *
 * Supported: `%t` topic, `%p` payload (raw bytes), `%q` QoS, `%r` retain flag (0/1), `%l` payload length in
 * bytes, `%m` packet identifier (0 at QoS 0), `%x`/`%X` payload as lower/upper case hex, `%%` a `%`,
 * `@@` an `@`, and the escapes `\n`, `\t`, `\r`, `\0`, `\a`, `\e`, `\v`, `\\`.
 * Not supported (a usage error, never printed literally): field widths and flags (`%10t`), the MQTT 5
 * properties (`%A`, `%C`, `%D`, `%E`, `%F`, `%P`, `%R`, `%S`), the helpers `%I`, `%j`, `%J`, `%U`, and the
 * `@` time sequences (`strftime`).
 *
 * @since 0.2.0
 */
import { Result } from "effect"

/** A `%` field of a format. @since 0.2.0 @category formatting */
export type FormatField = "t" | "p" | "q" | "r" | "l" | "m" | "x" | "X"

/** A compiled format: literal bytes and fields, in order. @since 0.2.0 @category formatting */
export type FormatPart =
  | { readonly _tag: "Literal"; readonly text: string }
  | { readonly _tag: "Field"; readonly field: FormatField }

/** What a format prints for one message. @since 0.2.0 @category formatting */
export interface FormatInput {
  readonly topic: string
  readonly payload: Uint8Array
  readonly qos: number
  readonly retain: boolean
  /** The PUBLISH packet identifier, 0 when none (QoS 0) or unknown. */
  readonly packetId: number
}

const fields: ReadonlySet<string> = new Set<FormatField>(["t", "p", "q", "r", "l", "m", "x", "X"])
const escapes: Readonly<Record<string, string>> = {
  "\\": "\\",
  "0": "\0",
  a: "\x07",
  e: "\x1b",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v"
}
const SUPPORTED = "%t %p %q %r %l %m %x %X %%"

/**
 * Compiles a `-F` format, or explains (naming `-F`) why it cannot be used.
 *
 * @since 0.2.0
 * @category formatting
 */
export const parseFormat = (format: string): Result.Result<ReadonlyArray<FormatPart>, string> => {
  const parts: Array<FormatPart> = []
  let literal = ""
  const flush = () => {
    if (literal.length > 0) parts.push({ _tag: "Literal", text: literal })
    literal = ""
  }
  for (let i = 0; i < format.length; i++) {
    const c = format[i] as string
    if (c !== "%" && c !== "@" && c !== "\\") {
      literal += c
      continue
    }
    const next = format[i + 1]
    i += 1
    if (next === undefined) return Result.fail(`-F: incomplete format specifier: the format ends with ${JSON.stringify(c)}`)
    if (c === "%") {
      if (next === "%") literal += "%"
      else if (fields.has(next)) {
        flush()
        parts.push({ _tag: "Field", field: next as FormatField })
      } else {
        return Result.fail(`-F: unsupported format specifier '%${next}' (supported: ${SUPPORTED})`)
      }
    } else if (c === "@") {
      if (next === "@") literal += "@"
      else return Result.fail(`-F: unsupported time specifier '@${next}' (time formats are not supported; '@@' prints '@')`)
    } else {
      const escaped = escapes[next]
      if (escaped === undefined) return Result.fail(`-F: unsupported escape '\\${next}' (supported: \\n \\t \\r \\0 \\a \\e \\v \\\\)`)
      literal += escaped
    }
  }
  flush()
  return Result.succeed(parts)
}

/** Whether the format prints `%m` (then the packet identifiers must be tracked). @since 0.2.0 @category formatting */
export const usesPacketId = (parts: ReadonlyArray<FormatPart>): boolean =>
  parts.some((part) => part._tag === "Field" && part.field === "m")

const utf8 = new TextEncoder()

const hex = (bytes: Uint8Array, upper: boolean): string => {
  let out = ""
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0")
  return upper ? out.toUpperCase() : out
}

/**
 * Renders one message with a compiled format, as bytes (`%p` is written as received, not decoded).
 *
 * @since 0.2.0
 * @category formatting
 */
export const renderFormat = (parts: ReadonlyArray<FormatPart>, input: FormatInput): Uint8Array => {
  const chunks: Array<Uint8Array> = []
  for (const part of parts) {
    if (part._tag === "Literal") {
      chunks.push(utf8.encode(part.text))
      continue
    }
    switch (part.field) {
      case "p":
        chunks.push(input.payload)
        break
      case "t":
        chunks.push(utf8.encode(input.topic))
        break
      case "q":
        chunks.push(utf8.encode(String(input.qos)))
        break
      case "r":
        chunks.push(utf8.encode(input.retain ? "1" : "0"))
        break
      case "l":
        chunks.push(utf8.encode(String(input.payload.length)))
        break
      case "m":
        chunks.push(utf8.encode(String(input.packetId)))
        break
      case "x":
      case "X":
        chunks.push(utf8.encode(hex(input.payload, part.field === "X")))
        break
    }
  }
  return concatBytes(chunks)
}

/** Concatenates byte arrays into one. @since 0.2.0 @category formatting */
export const concatBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}
