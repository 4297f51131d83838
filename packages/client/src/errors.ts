/**
 * Every typed error of `@aimeqtt/client`, in one place so users can see what `catchTag` can match.
 *
 * @since 0.1.0
 */
import { reasonCodeName } from "@aimeqtt/codec"
import { Schema } from "effect"

const refusalReasons = {
  1: "unacceptable protocol version",
  2: "identifier rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized"
} as const

/**
 * MQTT 5.0 CONNACK reason codes after which trying again, unchanged, may succeed [MQTT-3.2.2.2.2]:
 * Server unavailable (0x88), Server busy (0x89), Quota exceeded (0x97), Connection rate exceeded (0x9F).
 */
const retryableRefusals5: ReadonlySet<number> = new Set([0x88, 0x89, 0x97, 0x9f])

/**
 * The broker refused the connection: a CONNACK with a non-zero return code in MQTT 3.1.1
 * [MQTT-3.2.2.3], or a reason code of 0x80 or more in MQTT 5.0 [MQTT-3.2.2.2] (Table 2-6).
 *
 * - `reasonCode`: the CONNACK's code: 1..5 in 3.1.1, 0x80..0x9F in 5.0 (e.g. 0x86 Bad User Name or
 *   Password, 0x87 Not authorized, 0x8C Bad authentication method, 0x9C Use another server).
 * - `reason`: the standard's wording of it; `reasonString`: the broker's own explanation (5.0 only).
 * - `serverReference`: where the broker asks the client to go instead (5.0, codes 0x9C and 0x9D).
 *
 * Retried by the client ({@link ConnectionRefused.isRetryable}): 3 (server unavailable) in 3.1.1; 0x88
 * Server unavailable, 0x89 Server busy, 0x97 Quota exceeded and 0x9F Connection rate exceeded in 5.0.
 * Every other code needs another configuration and fails the layer at once.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionRefused extends Schema.TaggedError<ConnectionRefused>()("ConnectionRefused", {
  protocolVersion: Schema.Literals([4, 5]),
  reasonCode: Schema.Number,
  reason: Schema.String,
  reasonString: Schema.optionalKey(Schema.String),
  serverReference: Schema.optionalKey(Schema.String)
}) {
  /**
   * Whether trying again, unchanged, may succeed (see the codes above). The client's own connection
   * retries ask it too.
   */
  get isRetryable(): boolean {
    return this.protocolVersion === 4 ? this.reasonCode === 3 : retryableRefusals5.has(this.reasonCode)
  }
  /** The MQTT 3.1.1 name of `reasonCode` (its CONNACK return code, 1..5); `undefined` in MQTT 5.0. */
  get returnCode(): 1 | 2 | 3 | 4 | 5 | undefined {
    return this.protocolVersion === 4 ? (this.reasonCode as 1 | 2 | 3 | 4 | 5) : undefined
  }
  /** Builds the error for an MQTT 3.1.1 CONNACK return code, with the spec's wording as `reason`. */
  static fromReturnCode(returnCode: 1 | 2 | 3 | 4 | 5): ConnectionRefused {
    return new ConnectionRefused({ protocolVersion: 4, reasonCode: returnCode, reason: refusalReasons[returnCode] })
  }
  override get message(): string {
    const code = this.protocolVersion === 4
      ? `CONNACK return code ${this.reasonCode}`
      : `CONNACK reason code ${hex(this.reasonCode)}`
    return `connection refused by the broker: ${explained(this, code)}`
  }
}

/** `error` itself or the nearest error in its `cause` chain that `is` accepts (8 levels at most). */
const nearestCause = <E>(error: unknown, is: (e: unknown) => e is E): E | undefined => {
  let current = error
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    if (is(current)) return current
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

/** "reason (Reason String) (code); the broker names another server: reference", for CONNACK and DISCONNECT. */
const explained = (
  e: { readonly reason: string; readonly reasonString?: string; readonly serverReference?: string },
  code: string
): string =>
  `${e.reason}${e.reasonString === undefined ? "" : ` (${e.reasonString})`} (${code})` +
  (e.serverReference === undefined ? "" : `; the broker names another server: ${e.serverReference}`)

/** `0x87`. */
const hex = (code: number): string => `0x${code.toString(16).toUpperCase().padStart(2, "0")}`

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
   * Whether trying again, unchanged, may succeed. A network failure may heal; a TLS certificate problem (a `TlsError` cause), a
   * proxy refusing the credentials (a `ProxyError` cause), a setting this platform cannot apply (an `InvalidOptions` cause,
   * e.g. WebSocket headers in a browser) or a session store that cannot open (a `SessionStoreError` cause) does not. The client's own connection retries ask it too.
   */
  get isRetryable(): boolean {
    return TlsError.find(this.cause) === undefined && AuthenticationFailed.find(this.cause) === undefined &&
      (ProxyError.find(this.cause)?.isRetryable ?? true) &&
      nearestCause(this.cause, (e): e is InvalidOptions => e instanceof InvalidOptions) === undefined &&
      // The session store could not open or load (a missing driver, a damaged file): it needs attention.
      nearestCause(this.cause, (e): e is SessionStoreError => e instanceof SessionStoreError) === undefined
  }
}

/**
 * MQTT 5.0 enhanced authentication failed on the client's side: a step of the `authentication` option
 * failed (its error is the `cause`), or the broker's final data did not verify (`finish`). During a
 * connection attempt it reaches users as the `cause` of a `ConnectError` (not retried); `reauthenticate`
 * fails with it directly. A broker that refuses the credentials answers CONNACK with a reason code instead
 * (`ConnectionRefused`, e.g. 0x87 Not authorized, 0x8C Bad authentication method). Also the cause when a
 * WebSocket server answers the opening handshake with 401 or 403 and no `websocket.handshake` could bring
 * other credentials (since 0.4.0).
 *
 * @since 0.3.0
 * @category errors
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  /** Whether trying again, unchanged, may succeed. The same steps fail the same way. */
  get isRetryable(): boolean {
    return false
  }
  /** The `AuthenticationFailed` behind an error: itself or the nearest one in its `cause` chain. */
  static find(error: unknown): AuthenticationFailed | undefined {
    return nearestCause(error, (e): e is AuthenticationFailed => e instanceof AuthenticationFailed)
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
    return nearestCause(error, (e): e is TlsError => e instanceof TlsError)
  }
}

/**
 * Why a proxy did not open the tunnel to the broker:
 * - `unreachable`: no TCP connection to the proxy itself (refused, no route, DNS);
 * - `authentication`: the proxy wants other credentials (HTTP 407 or 401; SOCKS5 user name / password
 *   rejected, RFC 1929, or no acceptable authentication method);
 * - `refused`: the proxy's policy forbids the tunnel (HTTP 403 or another 4xx; SOCKS5 0x02 not allowed);
 * - `broker-unreachable`: the proxy could not reach the broker (HTTP 5xx; SOCKS5 0x03..0x06;
 *   SOCKS4 0x5B), or the broker's host name did not resolve for a `socks5://` / `socks4://` proxy;
 * - `protocol`: the proxy's answer made no sense (not HTTP, not SOCKS, closed mid-handshake);
 * - `unsupported`: this client cannot speak to that proxy here (the optional `socks` package is missing).
 *
 * @since 0.4.0
 * @category errors
 */
export type ProxyFailure = "unreachable" | "authentication" | "refused" | "broker-unreachable" | "protocol" | "unsupported"

/**
 * The proxy of the `proxy` option (HTTP CONNECT, RFC 9110 §9.3.6; SOCKS5, RFC 1928; SOCKS4/4a) did not open
 * the tunnel to the broker. It reaches users as the `cause` of a `ConnectError` whose message repeats this
 * one. `proxy` names it as `scheme://user@host:port`: the password is never in an error or a log.
 *
 * @since 0.4.0
 * @category errors
 */
export class ProxyError extends Schema.TaggedError<ProxyError>()("ProxyError", {
  reason: Schema.Literals(["unreachable", "authentication", "refused", "broker-unreachable", "protocol", "unsupported"]),
  message: Schema.String,
  /** The proxy, without its password, e.g. `http://alice@proxy.example:3128`. */
  proxy: Schema.String,
  /** HTTP CONNECT only: the proxy's status code, e.g. 407. */
  status: Schema.optionalKey(Schema.Number)
}) {
  /**
   * Whether trying again, unchanged, may succeed: not for `authentication`, `refused` and `unsupported` (the
   * same request gets the same answer); yes for a proxy or broker that could not be reached.
   */
  get isRetryable(): boolean {
    return this.reason !== "authentication" && this.reason !== "refused" && this.reason !== "unsupported"
  }
  /** The `ProxyError` behind a connection failure: `error` itself or the nearest one in its `cause` chain. */
  static find(error: unknown): ProxyError | undefined {
    return nearestCause(error, (e): e is ProxyError => e instanceof ProxyError)
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
  message: Schema.String,
  /**
   * MQTT 5.0: the reason code of the DISCONNECT the client sends before it closes the connection
   * (section 4.13): 0x81 Malformed Packet, 0x82 Protocol Error (the default), 0x93 Receive Maximum exceeded,
   * 0x94 Topic Alias invalid, 0x95 Packet too large.
   */
  reasonCode: Schema.optionalKey(Schema.Number)
}) {
  /**
   * Whether trying again, unchanged, may succeed. The client closes the connection and opens a new one.
   */
  get isRetryable(): boolean {
    return true
  }
}

/**
 * "a (0x87 Not authorized), b: reason": each refused filter with its code's name (a bare 3.1.1 0x80 shows
 * the filter alone), then the broker's Reason String.
 */
const refusedFilters = (
  refusal: { readonly filters: ReadonlyArray<string>; readonly reasonCodes: ReadonlyArray<number>; readonly reasonString?: string },
  carrier: "Suback" | "Unsuback"
): string => {
  const codes = refusal.filters.map((filter, i) => {
    const code = refusal.reasonCodes[i] ?? 0x80
    const name = reasonCodeName(carrier, code)
    return carrier === "Suback" && code === 0x80 ? filter : `${filter} (${hex(code)}${name === undefined ? "" : ` ${name}`})`
  })
  return `${codes.join(", ")}${refusal.reasonString === undefined ? "" : `: ${refusal.reasonString}`}`
}

/**
 * The broker refused these filters: SUBACK's failure code 0x80 in MQTT 3.1.1 [MQTT-3.9.3], a reason code
 * of 0x80 or more in MQTT 5.0 [MQTT-3.9.3] (e.g. 0x87 Not authorized, 0x8F Topic Filter invalid, 0x97 Quota
 * exceeded, 0x9E Shared Subscriptions not supported, 0xA2 Wildcard Subscriptions not supported).
 * `reasonCodes[i]` is the code of `filters[i]` (always 0x80 in 3.1.1); `reasonString` the broker's own
 * explanation (5.0 only).
 *
 * @since 0.1.0
 * @category errors
 */
export class SubscriptionRejected extends Schema.TaggedError<SubscriptionRejected>()("SubscriptionRejected", {
  filters: Schema.Array(Schema.String),
  reasonCodes: Schema.Array(Schema.Number),
  reasonString: Schema.optionalKey(Schema.String)
}) {
  /**
   * Whether trying again, unchanged, may succeed. The broker's refusal is a policy (ACL, unsupported filter), not a transient state.
   */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `the broker rejected the subscription to ${refusedFilters(this, "Suback")}`
  }
}

/**
 * MQTT 5.0: the broker answered UNSUBSCRIBE with a reason code of 0x80 or more for these filters
 * [MQTT-3.11.3] (0x87 Not authorized, 0x8F Topic Filter invalid, 0x80 Unspecified error). "No subscription
 * existed" (0x11) is not an error. `reasonCodes[i]` is the code of `filters[i]`.
 *
 * @since 0.3.0
 * @category errors
 */
export class UnsubscribeRejected extends Schema.TaggedError<UnsubscribeRejected>()("UnsubscribeRejected", {
  filters: Schema.Array(Schema.String),
  reasonCodes: Schema.Array(Schema.Number),
  reasonString: Schema.optionalKey(Schema.String)
}) {
  /** Whether trying again, unchanged, may succeed. The broker's refusal is a policy. */
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `the broker refused to unsubscribe ${refusedFilters(this, "Unsuback")}`
  }
}

/**
 * MQTT 5.0: the broker refused a QoS 1 or 2 publish, answering PUBACK or PUBREC with a reason code of 0x80
 * or more [MQTT-3.4.2.1][MQTT-3.5.2.1]: 0x80 Unspecified error, 0x83 Implementation specific error, 0x87
 * Not authorized, 0x90 Topic Name invalid, 0x91 Packet identifier in use, 0x97 Quota exceeded, 0x99
 * Payload format invalid. The flow is over: the broker did not take the message (no PUBREL follows a
 * refused PUBREC [MQTT-4.3.3]). `reasonString` is the broker's own explanation.
 *
 * @since 0.3.0
 * @category errors
 */
export class PublishRejected extends Schema.TaggedError<PublishRejected>()("PublishRejected", {
  topic: Schema.String,
  reasonCode: Schema.Number,
  reason: Schema.String,
  reasonString: Schema.optionalKey(Schema.String)
}) {
  /**
   * Whether trying again, unchanged, may succeed: only 0x97 Quota exceeded (and 0x91 Packet identifier in
   * use, a transient clash) may; the others are the broker's policy.
   */
  get isRetryable(): boolean {
    return this.reasonCode === 0x97 || this.reasonCode === 0x91
  }
  override get message(): string {
    const detail = this.reasonString === undefined ? "" : ` (${this.reasonString})`
    return `the broker rejected the publish to ${JSON.stringify(this.topic)}: ${this.reason}${detail} (reason code ${hex(this.reasonCode)})`
  }
}

/**
 * MQTT 5.0: `request` got no response within its `timeout` (milliseconds). The request was published; a
 * response that comes later is dropped.
 *
 * @since 0.3.0
 * @category errors
 */
export class ResponseTimeout extends Schema.TaggedError<ResponseTimeout>()("ResponseTimeout", {
  topic: Schema.String,
  timeoutMillis: Schema.Number
}) {
  /** Whether trying again, unchanged, may succeed: the responder may just be slow or restarting. */
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    return `no response to the request on ${JSON.stringify(this.topic)} within ${this.timeoutMillis} ms`
  }
}

/** MQTT 5.0 DISCONNECT reason codes after which the client does not reconnect by itself. */
const finalDisconnects: ReadonlySet<number> = new Set([
  0x87, // Not authorized
  0x8e, // Session taken over: another client connected with this client id
  0x9c, // Use another server
  0x9d, // Server moved
  0xa2 // Wildcard Subscriptions not supported (the program's own filters would be refused again)
])

/**
 * MQTT 5.0: the broker ended the connection with a DISCONNECT [MQTT-3.14], e.g. 0x8B Server shutting
 * down, 0x8E Session taken over (another client connected with the same client id), 0x8D Keep Alive
 * timeout, 0x97 Quota exceeded, 0x9C Use another server, 0x9D Server moved (with `serverReference`).
 * It shows on `status` as `Disconnected { cause }`.
 *
 * The client reconnects after it, as after any lost connection, unless `isRetryable` is false: 0x87 Not
 * authorized, 0x8E Session taken over (reconnecting would take the session back from the other client,
 * which would then do the same, for ever), 0x9C and 0x9D: then the client gives up, and waiting requests
 * and streams fail with this error. A `reconnect` schedule sees it as its input, so it can tell "session
 * taken over" from "server shutting down" (`Schedule.while`).
 *
 * @since 0.3.0
 * @category errors
 */
export class DisconnectedByServer extends Schema.TaggedError<DisconnectedByServer>()("DisconnectedByServer", {
  reasonCode: Schema.Number,
  reason: Schema.String,
  reasonString: Schema.optionalKey(Schema.String),
  serverReference: Schema.optionalKey(Schema.String)
}) {
  /** Whether reconnecting, unchanged, may succeed (see above). */
  get isRetryable(): boolean {
    return !finalDisconnects.has(this.reasonCode)
  }
  override get message(): string {
    return `the broker disconnected: ${explained(this, `DISCONNECT reason code ${hex(this.reasonCode)}`)}`
  }
}

/**
 * MQTT 5.0: the broker said in its CONNACK that it does not support what a request needs, so nothing was
 * sent (the broker would have closed the connection):
 * - `"qos"`: a publish above the Maximum QoS [MQTT-3.2.2-9]; `"retain"`: a retained publish when Retain
 *   Available is 0 [MQTT-3.2.2-14];
 * - `"wildcard-subscriptions"`, `"shared-subscriptions"`: a filter the broker said it does not support
 *   (Wildcard Subscription Available, Shared Subscription Available [MQTT-3.2.2.3.16][MQTT-3.2.2.3.18]).
 *
 * `message` names the CONNACK property. The limits are those of the connection that was up when the request
 * was made.
 *
 * @since 0.3.0
 * @category errors
 */
export class UnsupportedByServer extends Schema.TaggedError<UnsupportedByServer>()("UnsupportedByServer", {
  feature: Schema.Literals(["qos", "retain", "wildcard-subscriptions", "shared-subscriptions"]),
  message: Schema.String
}) {
  /** Whether trying again, unchanged, may succeed. The broker's capabilities do not change by retrying. */
  get isRetryable(): boolean {
    return false
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
 * A publish too large for one MQTT packet (256 MB), or, under MQTT 5.0, larger than the broker's Maximum
 * Packet Size (its CONNACK's); nothing was sent. (The client's own `maxPacketSize` bounds what it accepts.)
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
export type ConnectionFailure = ConnectionRefused | ConnectError | ConnectionLost | ProtocolError | DisconnectedByServer

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
export type PublishError =
  | InvalidTopic
  | PayloadTooLarge
  | PayloadEncodeError
  | InvalidOptions
  | UnsupportedByServer
  | PublishRejected
  | RequestError

/**
 * The errors of `subscribe` and `subscription` [MQTT-3.8]: an invalid filter or an option out of range
 * (before anything is sent), a filter the broker refused, or a {@link RequestError}. A schema
 * subscription adds `PayloadDecodeError` (unless `onDecodeError` skips).
 *
 * @since 0.2.0
 * @category errors
 */
export type SubscribeError = InvalidTopic | SubscriptionRejected | InvalidOptions | UnsupportedByServer | RequestError

/**
 * The errors of `unsubscribe` [MQTT-3.10]: an invalid filter (before anything is sent), or a {@link RequestError}.
 *
 * @since 0.2.0
 * @category errors
 */
export type UnsubscribeError = InvalidTopic | UnsubscribeRejected | RequestError

/**
 * The errors of `request` (MQTT 5.0 request/response): those of publishing the request and of subscribing
 * to the response topic, no response within the timeout, and a response that does not decode with the
 * given Schema.
 *
 * @since 0.3.0
 * @category errors
 */
export type RequestResponseError = PublishError | SubscribeError | ResponseTimeout | PayloadDecodeError

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
export type MqttError =
  | LayerError
  | PublishError
  | SubscribeError
  | UnsubscribeError
  | RequestResponseError
  | PayloadDecodeError
  | SessionStoreError
