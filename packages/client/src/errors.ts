/**
 * Every typed error of `@aimeqtt/client`, in one place so users can see what `catchTag` can match.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

const refusalReasons = {
  1: "unacceptable protocol version",
  2: "identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized"
} as const

/**
 * The broker answered CONNACK with a non-zero return code [MQTT-3.2.2.3].
 * Codes 1, 2, 4 and 5 are final; 3 (server unavailable) is retried by the client.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionRefused extends Schema.TaggedError<ConnectionRefused>()("ConnectionRefused", {
  returnCode: Schema.Literals([1, 2, 3, 4, 5]),
  reason: Schema.String
}) {
  /**
   * Whether trying again, unchanged, may succeed. Only return code 3 (server unavailable) may succeed later; 1, 2, 4 and 5 need another configuration [MQTT-3.2.2.3].
   * The client's own connection retries ask it too.
   */
  get isRetryable(): boolean {
    return this.returnCode === 3
  }
  /** Builds the error for a CONNACK return code, with the spec's wording as `reason`. */
  static fromReturnCode(returnCode: 1 | 2 | 3 | 4 | 5): ConnectionRefused {
    return new ConnectionRefused({ returnCode, reason: refusalReasons[returnCode] })
  }
  override get message(): string {
    return `connection refused by the broker: ${this.reason} (CONNACK return code ${this.returnCode})`
  }
}

/**
 * The broker could not be reached: DNS or TCP failure, or no CONNACK in time.
 * `cause` carries the underlying failure of the last attempt.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectError extends Schema.TaggedError<ConnectError>()("ConnectError", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  /**
   * Whether trying again, unchanged, may succeed. A network failure may heal; a TLS certificate problem (a `TlsError` cause) does not.
   * The client's own connection retries ask it too.
   */
  get isRetryable(): boolean {
    return TlsError.find(this.cause) === undefined
  }
}

/**
 * Why a TLS handshake failed, as far as the client can tell.
 *
 * @since 0.1.0
 * @category errors
 */
export type TlsFailure = "unknown-ca" | "hostname-mismatch" | "expired" | "not-yet-valid" | "other"

/**
 * The TLS handshake with the broker failed (`mqtts://`, `wss://`): its certificate is not signed by a
 * trusted CA, does not name the host, has expired, or the handshake broke otherwise. Derived from
 * Node's certificate error codes (`code`), see RFC 5280 §6 (path validation) and RFC 6125 (host
 * names). It reaches users as the `cause` of a `ConnectError` whose message repeats this one.
 * Browsers hide certificate details, so there a failed `wss://` handshake is a plain `ConnectError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsError extends Schema.TaggedError<TlsError>()("TlsError", {
  reason: Schema.Literals(["unknown-ca", "hostname-mismatch", "expired", "not-yet-valid", "other"]),
  message: Schema.String,
  /** Node's error code, e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`. */
  code: Schema.optionalKey(Schema.String)
}) {
  /**
   * Whether trying again, unchanged, may succeed. A certificate problem does not heal by retrying the same broker.
   */
  get isRetryable(): boolean {
    return false
  }
  /**
   * The `TlsError` behind a connection failure: `error` itself or the nearest one in its `cause`
   * chain (a `ConnectError` from the layer wraps the last attempt's `ConnectError`, which wraps it).
   */
  static find(error: unknown): TlsError | undefined {
    let current = error
    for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
      if (current instanceof TlsError) return current
      current = "cause" in current ? current.cause : undefined
    }
    return undefined
  }
}

/**
 * An established connection ended: the socket closed or failed, or the broker stopped answering
 * keep-alive pings.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionLost extends Schema.TaggedError<ConnectionLost>()("ConnectionLost", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  /**
   * Whether trying again, unchanged, may succeed. The client reconnects by itself; an operation that failed with it may be tried again.
   */
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The broker broke the protocol: malformed bytes, a packet a server must not send, or an
 * acknowledgement for a packet id that is not in flight. The connection is closed and re-opened.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  message: Schema.String
}) {
  /**
   * Whether trying again, unchanged, may succeed. The client closes the connection and opens a new one.
   */
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The broker answered SUBACK with the failure code 0x80 for these filters [MQTT-3.9.3].
 *
 * @since 0.1.0
 * @category errors
 */
export class SubscriptionRejected extends Schema.TaggedError<SubscriptionRejected>()("SubscriptionRejected", {
  filters: Schema.Array(Schema.String)
}) {
  /**
   * Whether trying again, unchanged, may succeed. The broker's refusal is a policy (ACL, unsupported filter), not a transient state.
   */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `the broker rejected the subscription to ${this.filters.join(", ")}`
  }
}

/**
 * An option given to `MqttClient.layer` (or read by `layerConfig`), or a broker URL given to `parseUrl`, is
 * invalid: nothing was sent and retrying cannot help. `message` names the field and the rule, never a
 * credential. (A broker that cannot be reached is a `ConnectError` instead.)
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {
  /**
   * Whether trying again, unchanged, may succeed. The same options fail the same way.
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A topic name or filter breaks the rules of [MQTT-4.7]; nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTopic extends Schema.TaggedError<InvalidTopic>()("InvalidTopic", {
  topic: Schema.String,
  reason: Schema.String
}) {
  /**
   * Whether trying again, unchanged, may succeed. The same topic fails the same way.
   */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    // A 70,000-character topic is not repeated whole: its start and its length say which one it is.
    const shown = this.topic.length > 200 ? `${JSON.stringify(this.topic.slice(0, 200))}... (${this.topic.length} characters)` : JSON.stringify(this.topic)
    return `invalid topic ${shown}: ${this.reason}`
  }
}

/**
 * The client was closed (its scope ended) before the operation could complete.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientClosed extends Schema.TaggedError<ClientClosed>()("ClientClosed", {}) {
  /**
   * Whether trying again, unchanged, may succeed. A closed client stays closed.
   */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return "the MQTT client is closed"
  }
}

/**
 * A publish or subscribe made while disconnected found the offline queue full.
 * Nothing is dropped silently: the caller decides to wait, retry or give up.
 *
 * @since 0.1.0
 * @category errors
 */
export class OfflineQueueFull extends Schema.TaggedError<OfflineQueueFull>()("OfflineQueueFull", {
  capacity: Schema.Number
}) {
  /**
   * Whether trying again, unchanged, may succeed. The queue drains once the connection is back.
   */
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    return `the offline queue is full (${this.capacity} requests wait for the connection)`
  }
}

/**
 * A payload too large for one MQTT packet, or larger than the client's `maxPacketSize`.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  size: Schema.Number,
  limit: Schema.Number
}) {
  /**
   * Whether trying again, unchanged, may succeed. The same payload is always too large.
   */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `packet of ${this.size} bytes exceeds the limit of ${this.limit} bytes`
  }
}

/**
 * A message payload did not decode with the Schema given to `subscribe(filter, { schema })`.
 * - `topic`: the topic the message came on;
 * - `message`: what the Schema reported;
 * - `payload`: a copy of the first {@link PAYLOAD_SAMPLE_BYTES} bytes of the raw payload (bounded, so a
 *   huge bad payload is not kept alive by its error);
 * - `payloadSize`: the whole payload's size, in bytes.
 *
 * Whether it fails the stream or is reported and skipped is the subscription's `onDecodeError` choice.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadDecodeError extends Schema.TaggedError<PayloadDecodeError>()("PayloadDecodeError", {
  topic: Schema.String,
  message: Schema.String,
  payload: Schema.Uint8Array,
  payloadSize: Schema.Number
}) {
  /**
   * Whether trying again, unchanged, may succeed. The same payload fails the same way.
   */
  get isRetryable(): boolean {
    return false
  }
  /** Builds the error for a message's raw payload, keeping a bounded copy of it. */
  static fromPayload(topic: string, payload: Uint8Array, message: string): PayloadDecodeError {
    return new PayloadDecodeError({ topic, message, payload: payload.slice(0, PAYLOAD_SAMPLE_BYTES), payloadSize: payload.length })
  }
}

/** How many bytes of an undecodable payload a {@link PayloadDecodeError} keeps. @since 0.2.0 @category errors */
export const PAYLOAD_SAMPLE_BYTES = 1024

/**
 * A value given to `publish(topic, value, { schema })` did not encode with its Schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadEncodeError extends Schema.TaggedError<PayloadEncodeError>()("PayloadEncodeError", {
  topic: Schema.String,
  message: Schema.String
}) {
  /**
   * Whether trying again, unchanged, may succeed. The same value fails the same way.
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The session store failed to read or write (disk full, permissions, a corrupt file).
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionStoreError extends Schema.TaggedError<SessionStoreError>()("SessionStoreError", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  /**
   * Whether trying again, unchanged, may succeed. The store needs attention (disk full, permissions, a corrupt file).
   */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Why the connection ended, or could not be opened again: a request still waiting for the broker fails
 * with one of these when the client gives up (its `reconnect` schedule ended).
 *
 * @since 0.2.0
 * @category errors
 */
export type ConnectionFailure = ConnectionRefused | ConnectError | ConnectionLost | ProtocolError

/**
 * What any request to the broker can fail with once it was accepted: a full offline queue, a closed
 * client, or a connection the client gave up on.
 *
 * @since 0.2.0
 * @category errors
 */
export type RequestError = OfflineQueueFull | ClientClosed | ConnectionFailure

/**
 * The errors of `publish` [MQTT-3.3]: before anything is sent, an invalid topic name, a payload too large
 * for one packet, a payload that does not encode (a schema's value, or a raw payload that is neither a
 * string nor a `Uint8Array`, which only a value typed `any` can be) or an option out of range (`qos`);
 * after, a {@link RequestError}.
 *
 * @since 0.2.0
 * @category errors
 */
export type PublishError = InvalidTopic | PayloadTooLarge | PayloadEncodeError | InvalidOptions | RequestError

/**
 * The errors of `subscribe` and `subscription` [MQTT-3.8]: an invalid filter or an option out of range
 * (before anything is sent), a filter the broker refused, or a {@link RequestError}. A schema
 * subscription adds `PayloadDecodeError` (unless `onDecodeError` skips).
 *
 * @since 0.2.0
 * @category errors
 */
export type SubscribeError = InvalidTopic | SubscriptionRejected | InvalidOptions | RequestError

/**
 * The errors of `unsubscribe` [MQTT-3.10]: an invalid filter (before anything is sent), or a {@link RequestError}.
 *
 * @since 0.2.0
 * @category errors
 */
export type UnsubscribeError = InvalidTopic | RequestError

/**
 * The errors of building the client's layer: options that are invalid, a broker that refused the
 * connection for good, or one that could not be reached within `connectTimeout`.
 *
 * @since 0.2.0
 * @category errors
 */
export type LayerError = InvalidOptions | ConnectionRefused | ConnectError

/**
 * Any error of the client: the union of {@link LayerError}, {@link PublishError}, {@link SubscribeError},
 * {@link UnsubscribeError}, `PayloadDecodeError` and `SessionStoreError`. Each operation declares its own,
 * narrower set; this one is for code that handles them all in one place.
 *
 * @since 0.1.0
 * @category errors
 */
export type MqttError = LayerError | PublishError | SubscribeError | UnsubscribeError | PayloadDecodeError | SessionStoreError
