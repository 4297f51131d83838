/**
 * Which payload bytes the client owns: those it encoded itself (a string or a Schema-encoded value given
 * to `publish`), which no caller can modify. The connection writes a large owned payload as it is,
 * without copying it into the write buffer. A caller's `Uint8Array` is copied into the write buffer at
 * every QoS: `publish` may complete (QoS 0: written; any QoS: interrupted, e.g. by a timeout) while the
 * socket still holds the bytes, and the caller may reuse its buffer then (see `Connection.coalesce`).
 *
 * @since 0.5.0
 */

/** Payloads of at least this many bytes are written without a copy when they may be (see above). */
export const LARGE_PAYLOAD = 2048

const owned = new WeakSet<Uint8Array>()

/** Marks bytes the client encoded itself (only large ones are remembered); returns them. */
export const own = (bytes: Uint8Array): Uint8Array => {
  if (bytes.length >= LARGE_PAYLOAD) owned.add(bytes)
  return bytes
}

/** Whether the client encoded these bytes itself (see {@link own}). */
export const isOwned = (bytes: Uint8Array): boolean => owned.has(bytes)
