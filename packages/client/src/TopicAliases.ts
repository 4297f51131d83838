/**
 * MQTT 5.0 outgoing Topic Aliases of one connection [MQTT-3.3.2.3.4]: with `topicAliases: "auto"`, the
 * client gives the topics it publishes to an alias, up to the broker's Topic Alias Maximum, and sends the
 * alias alone (an empty topic) once the broker knows it. The least recently used topic gives its alias up
 * when every alias is taken. Aliases never outlive their connection [MQTT-3.3.2-7]: each connection starts
 * with an empty table.
 *
 * Pure code, applied by the connection's writer in wire order, so the broker always learns an alias (topic
 * and alias in one PUBLISH) before it sees that alias alone.
 *
 * @since 0.3.0
 */
import type { ProtocolVersion, Publish } from "@aimeqtt/codec"

type AnyPublish = Publish<ProtocolVersion>

/** @since 0.3.0 */
export class OutgoingAliases {
  readonly #maximum: number
  /** Topic to alias, least recently used first. */
  readonly #aliases = new Map<string, number>()

  /** `maximum`: the broker's Topic Alias Maximum (at least 1). */
  constructor(maximum: number) {
    this.#maximum = maximum
  }

  /** The PUBLISH to write for `packet`: with the topic and its new alias, or the alias alone. */
  apply(packet: AnyPublish): AnyPublish {
    const topic = packet.topic
    const properties = "properties" in packet ? packet.properties : undefined
    const known = this.#aliases.get(topic)
    if (known !== undefined) {
      this.#aliases.delete(topic) // most recently used: last
      this.#aliases.set(topic, known)
      return { ...packet, topic: "", properties: { ...properties, topicAlias: known } }
    }
    let alias: number
    if (this.#aliases.size < this.#maximum) {
      alias = this.#aliases.size + 1 // 1..maximum [MQTT-3.3.2-8]
    } else {
      const [oldest, reused] = this.#aliases.entries().next().value as [string, number]
      this.#aliases.delete(oldest)
      alias = reused
    }
    this.#aliases.set(topic, alias)
    return { ...packet, properties: { ...properties, topicAlias: alias } }
  }
}
