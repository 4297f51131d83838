/**
 * `globalThis.aimeqttSession`, what `browser-session/main.ts` offers the devtools console (and
 * `packages/client/test/browser.indexeddb.test.ts`).
 */

/** What `stored()` answers: the flows in the order they were first stored, and the incoming QoS 2 ids. */
export interface StoredSummary {
  readonly outgoing: ReadonlyArray<{ readonly packetId: number; readonly stage: string; readonly topic: string; readonly qos: number }>
  readonly incoming: ReadonlyArray<number>
}

/** The page's session API. */
export interface SessionApi {
  /** A Promise of `"done"` once acknowledged (PUBACK, or PUBCOMP), or of the error's message. */
  readonly publish: (topic: string, text: string, qos: 1 | 2) => Promise<string>
  /** A Promise of what the store holds for the client id (`{ outgoing, incoming }`), or of the error's message. */
  readonly stored: () => Promise<StoredSummary | string>
}
