/**
 * OutgoingAliases: MQTT 5.0 outgoing Topic Aliases of one connection, as pure code [MQTT-3.3.2.3.4].
 */
import type { ProtocolVersion, Publish } from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import { OutgoingAliases } from "../src/TopicAliases.ts"

const publish = (topic: string, properties?: Publish<5>["properties"]): Publish<5> => ({
  _tag: "Publish",
  topic,
  payload: new Uint8Array([1]),
  qos: 0,
  retain: false,
  dup: false,
  ...(properties !== undefined ? { properties } : {})
})
const propertiesOf = (p: Publish<ProtocolVersion>) => ("properties" in p ? p.properties : undefined)
const wire = (p: Publish<ProtocolVersion>) => [p.topic, propertiesOf(p)?.topicAlias]

describe("OutgoingAliases", () => {
  it("the first PUBLISH of a topic sets its alias (topic and alias), the next ones send the alias alone", () => {
    const aliases = new OutgoingAliases(2)
    assert.deepStrictEqual(wire(aliases.apply(publish("a"))), ["a", 1])
    assert.deepStrictEqual(wire(aliases.apply(publish("b"))), ["b", 2])
    assert.deepStrictEqual(wire(aliases.apply(publish("a"))), ["", 1])
    assert.deepStrictEqual(wire(aliases.apply(publish("b"))), ["", 2])
  })

  it("full: the least recently used topic gives its alias up; aliases stay within 1..maximum [MQTT-3.3.2-8]", () => {
    const aliases = new OutgoingAliases(2)
    aliases.apply(publish("a")) // 1
    aliases.apply(publish("b")) // 2
    aliases.apply(publish("a")) // a used last: b is the oldest
    assert.deepStrictEqual(wire(aliases.apply(publish("c"))), ["c", 2], "c takes b's alias")
    assert.deepStrictEqual(wire(aliases.apply(publish("b"))), ["b", 1], "b comes back with a's (now oldest) alias")
    assert.deepStrictEqual(wire(aliases.apply(publish("c"))), ["", 2])
  })

  it("keeps the other properties and never changes the packet it was given (the session re-sends it)", () => {
    const aliases = new OutgoingAliases(1)
    const original = publish("a", { contentType: "text/plain" })
    aliases.apply(original)
    const second = aliases.apply(original)
    assert.deepStrictEqual(propertiesOf(second), { contentType: "text/plain", topicAlias: 1 })
    assert.deepStrictEqual(original, publish("a", { contentType: "text/plain" }))
  })
})
