/**
 * Shared subscriptions `$share/{ShareName}/{filter}` [MQTT-4.8.2]: parsing, the rules a client checks
 * before sending one, and the filter messages are matched against.
 */
import {
  isSharedSubscription,
  matches,
  matchingFilter,
  outgoingTopicFilterError,
  parseSharedSubscription,
  sharedSubscriptionError,
  topicFilterError
} from "@aimeqtt/codec"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"

describe("shared subscriptions [MQTT-4.8.2]", () => {
  it("parses the ShareName and the filter after it", () => {
    assert.deepStrictEqual(parseSharedSubscription("$share/workers/jobs/#"), { shareName: "workers", filter: "jobs/#" })
    assert.deepStrictEqual(parseSharedSubscription("$share/g/+"), { shareName: "g", filter: "+" })
    assert.deepStrictEqual(parseSharedSubscription("$share/g//a"), { shareName: "g", filter: "/a" })
    assert.deepStrictEqual(parseSharedSubscription("$share/g/$SYS/#"), { shareName: "g", filter: "$SYS/#" })
    for (const plain of ["jobs/#", "$share", "$SYS/#", "share/g/x", "$Share/g/x", "a/$share/g/x"]) {
      assert.isUndefined(parseSharedSubscription(plain), plain)
      assert.isFalse(isSharedSubscription(plain), plain)
      assert.strictEqual(matchingFilter(plain), plain)
    }
  })

  const malformed: ReadonlyArray<readonly [string, string]> = [
    ["$share/", "[MQTT-4.8.2-1]"],
    ["$share//jobs", "[MQTT-4.8.2-1]"],
    ["$share/g", "[MQTT-4.8.2-2]"],
    ["$share/g/", "[MQTT-4.8.2-2]"],
    ["$share/a+b/jobs", "[MQTT-4.8.2-2]"],
    ["$share/+/jobs", "[MQTT-4.8.2-2]"],
    ["$share/#", "[MQTT-4.8.2-2]"],
    ["$share/g#/jobs", "[MQTT-4.8.2-2]"]
  ]
  for (const [filter, rule] of malformed) {
    it(`refuses ${JSON.stringify(filter)} ${rule}, also as a filter a client sends`, () => {
      const reason = sharedSubscriptionError(filter)
      assert.isDefined(reason)
      assert.include(reason ?? "", rule)
      // The client's check names the rule too (the shape rules of a filter may speak first, e.g. for "#").
      assert.isDefined(outgoingTopicFilterError(filter))
    })
  }

  it("the filter part follows the rules of any topic filter", () => {
    assert.include(outgoingTopicFilterError("$share/g/a+") ?? "", "[MQTT-4.7.1-3]")
    assert.include(outgoingTopicFilterError("$share/g/a/#/b") ?? "", "[MQTT-4.7.1-2]")
    assert.isUndefined(outgoingTopicFilterError("$share/g/jobs/+/done"))
    // The decoder's filter check (a 3.1.1 server reading SUBSCRIBE) stays the 3.1.1 rule: "$share/g" is an
    // ordinary filter there.
    assert.isUndefined(topicFilterError("$share/g"))
  })

  it("messages are matched against the filter after the ShareName (they arrive with the real topic)", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9_-]{1,8}$/),
        fc.constantFrom("jobs/#", "jobs/+", "jobs/a", "+/a", "#"),
        fc.constantFrom("jobs/a", "jobs/b/c", "x/a", "$SYS/a"),
        (group, filter, topic) => {
          const shared = `$share/${group}/${filter}`
          assert.strictEqual(matchingFilter(shared), filter)
          assert.strictEqual(matches(matchingFilter(shared), topic), matches(filter, topic))
        }
      )
    )
  })
})
