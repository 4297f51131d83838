import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { discouragedCodePointError, mqttStringError, outgoingStringError } from "../src/MqttString.ts"
import { matches, outgoingTopicFilterError, outgoingTopicNameError, topicFilterError, topicNameError, TopicTrie } from "../src/Topic.ts"

describe("topicNameError", () => {
  it("accepts valid topic names, including $-topics, empty levels and spaces", () => {
    for (const topic of ["a", "sport/tennis/player1", "/finance", "/", "a//b", "$SYS/broker", "ACCOUNTS", "a b", "ü/€/😀"]) {
      expect(topicNameError(topic)).toBeUndefined()
    }
  })

  it("rejects an empty topic name [MQTT-4.7.3-1]", () => {
    expect(topicNameError("")).toContain("MQTT-4.7.3-1")
  })

  it("rejects wildcards in topic names [MQTT-4.7.1-1]", () => {
    for (const topic of ["+", "#", "a/+", "a/#", "a+b", "sport/tennis#"]) {
      expect(topicNameError(topic)).toContain("MQTT-4.7.1-1")
    }
  })

  it("rejects U+0000 [MQTT-4.7.3-2][MQTT-1.5.3-2]", () => {
    expect(topicNameError("a\u0000b")).toBe("topic name contains the null character U+0000 [MQTT-1.5.3-2]")
  })

  it("limits the UTF-8 length to 65535 bytes [MQTT-4.7.3-3][MQTT-1.5.3]", () => {
    const tooLong = "topic name is longer than 65535 bytes in UTF-8 [MQTT-1.5.3]"
    expect(topicNameError("a".repeat(65535))).toBeUndefined()
    expect(topicNameError("a".repeat(65536))).toBe(tooLong)
    // 21845 three-byte characters = 65535 bytes; one more ASCII byte is too many.
    expect(topicNameError("€".repeat(21845))).toBeUndefined()
    expect(topicNameError("€".repeat(21845) + "a")).toBe(tooLong)
    // A surrogate pair is one 4-byte code point.
    expect(topicNameError("😀".repeat(16383) + "aaa")).toBeUndefined()
    expect(topicNameError("😀".repeat(16384))).toBe(tooLong)
  })

  it("rejects an unpaired surrogate, which is not well-formed UTF-8 [MQTT-1.5.3-1]", () => {
    // A string cut inside an emoji: TextEncoder would send U+FFFD, i.e. another topic.
    expect(topicNameError("sensor/\uD83C")).toBe(
      "topic name contains an unpaired surrogate (U+D83C at index 7), which is not well-formed UTF-8 [MQTT-1.5.3-1]"
    )
    for (const topic of ["\uDC00", "a/\uDC00", "\uD83Cx", "a/\uD83C/b", "\uDE00\uD83D", "😀".slice(1) + "😀"]) {
      expect(topicNameError(topic), JSON.stringify(topic)).toContain("unpaired surrogate")
    }
  })

  it("accepts paired surrogates, U+FEFF, control characters and noncharacters", () => {
    for (const topic of ["sensor/🌡", "😀", "a/😀/b", "\uFEFFa", "a\uFEFF", "a\u0001b", "\u007F", "a/\uFFFF", "\uFFFE", "\uDBFF\uDFFF"]) {
      expect(topicNameError(topic), JSON.stringify(topic)).toBeUndefined()
    }
  })

  it("counts UTF-8 bytes like TextEncoder", () => {
    const encoder = new TextEncoder()
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 8 }), fc.integer({ min: 15000, max: 30000 }), (s, n) => {
        const clean = s.replace(/[+#\u0000]/g, "x")
        const topic = clean.repeat(Math.ceil(n / clean.length) + 1)
        const tooLong = encoder.encode(topic).length > 65535
        expect(topicNameError(topic) !== undefined).toBe(tooLong)
      }),
      { numRuns: 100 }
    )
  })
})

describe("topicFilterError", () => {
  it("accepts the valid filters of section 4.7", () => {
    for (
      const filter of [
        "sport/tennis/player1/#",
        "sport/#",
        "#",
        "+",
        "+/tennis/#",
        "sport/+/player1",
        "+/+",
        "/+",
        "+/",
        "/",
        "a//b",
        "$SYS/#",
        "$SYS/monitor/+",
        "sport/tennis/+"
      ]
    ) {
      expect(topicFilterError(filter)).toBeUndefined()
    }
  })

  it("rejects an empty filter [MQTT-4.7.3-1]", () => {
    expect(topicFilterError("")).toContain("MQTT-4.7.3-1")
  })

  it("rejects '#' that is not last or not alone in its level [MQTT-4.7.1-2]", () => {
    for (const filter of ["sport/tennis#", "sport/tennis/#/ranking", "#/", "##", "a/#b", "a/b#"]) {
      expect(topicFilterError(filter)).toContain("MQTT-4.7.1-2")
    }
  })

  it("rejects '+' that is not alone in its level [MQTT-4.7.1-3]", () => {
    for (const filter of ["sport+", "sport/+tennis", "a/b+/c", "++", "+a"]) {
      expect(topicFilterError(filter)).toContain("MQTT-4.7.1-3")
    }
  })

  it("rejects U+0000 [MQTT-4.7.3-2][MQTT-1.5.3-2]", () => {
    expect(topicFilterError("a/\u0000/#")).toBe("topic filter contains the null character U+0000 [MQTT-1.5.3-2]")
  })

  it("limits the UTF-8 length to 65535 bytes [MQTT-4.7.3-3][MQTT-1.5.3]", () => {
    const tooLong = "topic filter is longer than 65535 bytes in UTF-8 [MQTT-1.5.3]"
    expect(topicFilterError("a/".repeat(32767) + "#")).toBeUndefined()
    expect(topicFilterError("a/".repeat(32767) + "ab")).toBe(tooLong)
    expect(topicFilterError("é".repeat(32768))).toBe(tooLong)
  })

  it("rejects an unpaired surrogate, which is not well-formed UTF-8 [MQTT-1.5.3-1]", () => {
    expect(topicFilterError("sensor/\uD83C")).toBe(
      "topic filter contains an unpaired surrogate (U+D83C at index 7), which is not well-formed UTF-8 [MQTT-1.5.3-1]"
    )
    for (const filter of ["\uDC00/#", "+/\uD83C", "\uD83C/+/#", "a/\uDFFF"]) {
      expect(topicFilterError(filter), JSON.stringify(filter)).toContain("unpaired surrogate")
    }
    // The wildcard rules are checked first.
    expect(topicFilterError("a#/\uD83C")).toContain("MQTT-4.7.1-2")
  })

  it("accepts paired surrogates, U+FEFF and noncharacters next to wildcards", () => {
    for (const filter of ["sensor/🌡/#", "+/😀", "\uFEFF/+", "\uFFFF/#"]) {
      expect(topicFilterError(filter), JSON.stringify(filter)).toBeUndefined()
    }
  })
})

describe("matches (section 4.7 examples)", () => {
  const yes = (filter: string, topic: string) => expect(matches(filter, topic), `${filter} ~ ${topic}`).toBe(true)
  const no = (filter: string, topic: string) => expect(matches(filter, topic), `${filter} !~ ${topic}`).toBe(false)

  it("'#' matches the rest, including the parent level [MQTT-4.7.1-2]", () => {
    yes("sport/tennis/player1/#", "sport/tennis/player1")
    yes("sport/tennis/player1/#", "sport/tennis/player1/ranking")
    yes("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon")
    yes("sport/#", "sport")
    yes("sport/#", "sport/")
    yes("#", "sport/tennis")
    yes("#", "/")
    no("sport/tennis/player1/#", "sport/tennis/player2")
    no("sport/tennis/player1/#", "sport/tennis")
    no("sport/#", "sports")
  })

  it("'+' matches exactly one level [MQTT-4.7.1-3]", () => {
    yes("sport/tennis/+", "sport/tennis/player1")
    yes("sport/tennis/+", "sport/tennis/player2")
    no("sport/tennis/+", "sport/tennis/player1/ranking")
    no("sport/+", "sport")
    yes("sport/+", "sport/")
    yes("+/+", "/finance")
    yes("/+", "/finance")
    no("+", "/finance")
    yes("+", "finance")
    yes("+/tennis/#", "sport/tennis/player1")
    yes("sport/+/player1", "sport/tennis/player1")
    no("sport/+/player1", "sport/tennis/player2")
  })

  it("literal levels are compared exactly, and empty levels are levels", () => {
    yes("ACCOUNTS", "ACCOUNTS")
    no("ACCOUNTS", "Accounts")
    no("accounts", "Accounts")
    yes("a//b", "a//b")
    no("a//b", "a/b")
    yes("a/+/b", "a//b")
    no("/finance", "finance")
    no("a/b", "a/bc")
    no("a/bc", "a/b")
    no("a/b", "a/b/")
  })

  it("wildcards at the start do not match topics starting with '$' [MQTT-4.7.2-1]", () => {
    no("#", "$SYS")
    no("#", "$SYS/monitor/Clients")
    no("+/monitor/Clients", "$SYS/monitor/Clients")
    yes("$SYS/#", "$SYS/monitor/Clients")
    yes("$SYS/monitor/+", "$SYS/monitor/Clients")
    yes("$SYS/#", "$SYS")
    yes("a/#", "a/$b")
    yes("+/$b", "a/$b")
  })
})

// Small alphabets so that random filters and topics match often.
const level = fc.constantFrom("", "a", "b", "$", "$a", "ab")
const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join("/"))
  .filter((topic) => topic.length > 0)
const filterArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant("+"), fc.constant("+")), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels.slice(1), "#"] : levels).join("/"))
  .filter((filter) => filter.length > 0)

/** A reference matcher: split both strings and compare level by level. */
const referenceMatches = (filter: string, topic: string): boolean => {
  const f = filter.split("/")
  const t = topic.split("/")
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true
    if (i >= t.length) return false
    if (f[i] !== "+" && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

const sorted = (values: Iterable<string>) => [...values].sort()

describe("matches (properties)", () => {
  it("generated filters and topics are valid", () => {
    fc.assert(fc.property(filterArb, topicArb, (filter, topic) => {
      expect(topicFilterError(filter)).toBeUndefined()
      expect(topicNameError(topic)).toBeUndefined()
    }))
  })

  it("agrees with a split-based reference", () => {
    fc.assert(fc.property(filterArb, topicArb, (filter, topic) => {
      expect(matches(filter, topic)).toBe(referenceMatches(filter, topic))
    }), { numRuns: 2000 })
  })

  it("a topic used as a filter matches itself only", () => {
    fc.assert(fc.property(topicArb, topicArb, (a, b) => {
      expect(matches(a, b)).toBe(a === b)
    }))
  })
})

describe("TopicTrie", () => {
  it("dispatches the section 4.7 examples", () => {
    const trie = new TopicTrie<string>()
    for (const filter of ["sport/tennis/player1/#", "sport/#", "sport/+", "+/+", "/+", "#", "$SYS/#", "+/monitor/Clients"]) {
      trie.add(filter, filter)
    }
    expect(sorted(trie.match("sport/tennis/player1"))).toEqual(["#", "sport/#", "sport/tennis/player1/#"])
    expect(sorted(trie.match("sport"))).toEqual(["#", "sport/#"])
    expect(sorted(trie.match("sport/"))).toEqual(["#", "+/+", "sport/#", "sport/+"])
    expect(sorted(trie.match("/finance"))).toEqual(["#", "+/+", "/+"])
    expect(sorted(trie.match("$SYS/monitor/Clients"))).toEqual(["$SYS/#"])
    expect(trie.match("$SYS")).toEqual(["$SYS/#"])
    expect(trie.match("$other")).toEqual([])
  })

  it("holds a set of values per filter, and a value once per matching filter", () => {
    const trie = new TopicTrie<number>()
    expect(trie.isEmpty).toBe(true)
    expect(trie.add("a/+", 1)).toBe(true)
    expect(trie.add("a/+", 1)).toBe(false)
    expect(trie.add("a/#", 1)).toBe(true)
    expect(trie.add("a/+", 2)).toBe(true)
    expect(trie.size).toBe(3)
    expect(trie.match("a/b").sort()).toEqual([1, 1, 2])
    expect(trie.match("a")).toEqual([1])
    expect(trie.remove("a/+", 3)).toBe(false)
    expect(trie.remove("b/+", 1)).toBe(false)
    expect(trie.remove("a/+", 1)).toBe(true)
    expect(trie.remove("a/+", 1)).toBe(false)
    expect(trie.match("a/b").sort()).toEqual([1, 2])
    expect(trie.remove("a/#", 1)).toBe(true)
    expect(trie.remove("a/+", 2)).toBe(true)
    expect(trie.isEmpty).toBe(true)
    expect(trie.match("a/b")).toEqual([])
  })

  it("match equals the filters that match, over random filter sets and topics", () => {
    fc.assert(
      fc.property(fc.uniqueArray(filterArb, { maxLength: 30 }), fc.array(topicArb, { maxLength: 20 }), (filters, topics) => {
        const trie = new TopicTrie<string>()
        for (const filter of filters) trie.add(filter, filter)
        expect(trie.size).toBe(filters.length)
        for (const topic of topics) {
          const expected = filters.filter((filter) => matches(filter, topic))
          expect(sorted(trie.match(topic))).toEqual(sorted(expected))
        }
      }),
      { numRuns: 300 }
    )
  })

  it("add and remove keep match in sync with the stored filters, and prune to empty", () => {
    const op = fc.tuple(fc.boolean(), filterArb, fc.constantFrom(1, 2))
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.array(topicArb, { minLength: 1, maxLength: 10 }), (ops, topics) => {
        const trie = new TopicTrie<string>()
        const model = new Set<string>() // "value|filter"
        for (const [isAdd, filter, value] of ops) {
          const key = `${value}|${filter}`
          if (isAdd) {
            expect(trie.add(filter, key)).toBe(!model.has(key))
            model.add(key)
          } else {
            expect(trie.remove(filter, key)).toBe(model.has(key))
            model.delete(key)
          }
          expect(trie.size).toBe(model.size)
        }
        for (const topic of topics) {
          const expected = [...model].filter((key) => matches(key.slice(key.indexOf("|") + 1), topic))
          expect(sorted(trie.match(topic))).toEqual(sorted(expected))
        }
        for (const key of model) expect(trie.remove(key.slice(key.indexOf("|") + 1), key)).toBe(true)
        expect(trie.isEmpty).toBe(true)
        for (const topic of topics) expect(trie.match(topic)).toEqual([])
      }),
      { numRuns: 300 }
    )
  })

  it("is not a linear scan: many literal filters, one matching", () => {
    const trie = new TopicTrie<number>()
    for (let i = 0; i < 100_000; i++) trie.add(`devices/${i}/state`, i)
    trie.add("devices/+/state", -1)
    const start = performance.now()
    for (let i = 0; i < 10_000; i++) trie.match(`devices/${i * 7}/state`)
    expect(performance.now() - start).toBeLessThan(1000)
    expect(trie.match("devices/42/state").sort()).toEqual([-1, 42])
  })
})

describe("outgoingTopicNameError / outgoingTopicFilterError (what a client sends)", () => {
  // mosquitto 2.0 closes the connection on these: a client must not send them.
  const discouraged = ["a\u0001b", "a\u001Fb", "a\u007Fb", "a\u009Fb", "x/\uFDD0", "x/\uFDEF", "x/\uFFFE", "x/\uFFFF", "x/\uD83F\uDFFE", "x/\uDBFF\uDFFF"]
  it("refuses control characters and noncharacters, which topicNameError (the decoder's rule) accepts", () => {
    for (const topic of discouraged) {
      expect(topicNameError(topic), JSON.stringify(topic)).toBeUndefined()
      expect(outgoingTopicNameError(topic), JSON.stringify(topic)).toMatch(/control character|noncharacter/)
      expect(outgoingTopicFilterError(topic), JSON.stringify(topic)).toMatch(/control character|noncharacter/)
    }
    expect(outgoingTopicNameError("a\u0001b")).toBe(
      "topic name contains the control character U+0001, which a sender should not use [MQTT-1.5.3] and mosquitto refuses as a malformed packet"
    )
  })
  it("accepts what is not discouraged: printable ASCII, U+00A0, U+FDCF, U+FDF0, U+FFFD, paired emoji, U+FEFF", () => {
    for (const topic of ["a b/~", "\u00A0", "\uFDCF", "\uFDF0", "\uFFFD", "sensor/🌡️", "\uFEFF/x", "x/\uD83F\uDFFD"]) {
      expect(outgoingTopicNameError(topic), JSON.stringify(topic)).toBeUndefined()
    }
    expect(outgoingTopicFilterError("sensor/+/🌡️/#")).toBeUndefined()
  })
  it("outgoingStringError (client id, user name) is the MQTT string rule, then the discouraged code points", () => {
    expect(outgoingStringError("id\u0000", "clientId")).toBe(mqttStringError("id\u0000", "clientId"))
    expect(outgoingStringError("id\u0001", "clientId")).toBe(discouragedCodePointError("id\u0001", "clientId"))
    expect(outgoingStringError("sensor/🌡️ \uFEFF", "clientId")).toBeUndefined()
  })
  it("still applies the rules of every MQTT string and of topics first", () => {
    expect(outgoingTopicNameError("sensor/\uD83C")).toMatch(/unpaired surrogate/)
    expect(outgoingTopicNameError("a/+")).toBe(topicNameError("a/+"))
    expect(outgoingTopicFilterError("a/#/b")).toBe(topicFilterError("a/#/b"))
  })
})
