/**
 * The body SUBSCRIBE and UNSUBSCRIBE share: a packet identifier, properties (MQTT 5.0), then a list of
 * topic filters, at least one, each followed by what the packet adds (SUBSCRIBE: its options).
 *
 * @since 0.3.0
 */
import { DecodeError } from "../DecodeError.ts"
import type { PropertiesOf } from "../Properties.ts"
import { readProperties } from "./PropertyCodec.ts"
import type { Reader } from "./Reader.ts"

/**
 * The packet identifier, properties and entries of `r`; `noFilters` is the rule an empty list breaks.
 *
 * @since 0.3.0
 */
export const readFilterList = <C extends "Subscribe" | "Unsubscribe", A>(
  r: Reader,
  carrier: C,
  noFilters: string,
  entry: (r: Reader, filter: string) => A | DecodeError
): { readonly packetId: number; readonly properties: PropertiesOf[C] | undefined; readonly entries: Array<A> } | DecodeError => {
  const packetId = r.packetId()
  if (typeof packetId !== "number") return packetId
  const properties = readProperties(r, carrier)
  if (properties instanceof DecodeError) return properties
  if (r.remaining === 0) return r.fail(`without topic filters ${noFilters}`)
  const entries = r.topicFilters(entry)
  return entries instanceof DecodeError ? entries : { packetId, properties, entries }
}
