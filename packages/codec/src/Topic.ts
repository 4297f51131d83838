/**
 * Topic names and topic filters [MQTT-4.7]: validation, matching, and a trie for dispatching a
 * topic to every value subscribed with a matching filter.
 *
 * Levels are separated by `/`; empty levels are levels ("a//b" has three, "/a" has two). `+` matches
 * exactly one level, `#` matches the rest of the topic including its parent level. The validators
 * scan the string by char code and allocate nothing for a valid string: the topic rules here, then
 * the rules of every MQTT string in `mqttStringError` (MqttString.ts). The decoder, which calls them
 * on every PUBLISH, runs only the topic rules, as `readUtf8` has checked the string's bytes.
 *
 * @since 0.1.0
 */
import { mqttStringError, outgoingStringError } from "./MqttString.ts"
import { sharedSubscriptionError } from "./SharedSubscription.ts"

const SLASH = 0x2f // "/"
const PLUS = 0x2b // "+"
const HASH = 0x23 // "#"
const DOLLAR = 0x24 // "$"

const EMPTY_TOPIC = "topic name must be at least one character long [MQTT-4.7.3-1]"
const EMPTY_FILTER = "topic filter must be at least one character long [MQTT-4.7.3-1]"
const WILDCARD_IN_TOPIC = "topic name must not contain the wildcard characters '+' or '#' [MQTT-4.7.1-1]"
const MISPLACED_HASH =
  "the multi-level wildcard '#' must be the last character of the topic filter and alone in its level [MQTT-4.7.1-2]"
const MISPLACED_PLUS = "the single-level wildcard '+' must occupy an entire level of the topic filter [MQTT-4.7.1-3]"

/**
 * The rules of a topic name beyond those of any MQTT string: non-empty [MQTT-4.7.3-1], no `+` or `#`
 * [MQTT-4.7.1-1]. For the decoder, whose strings `readUtf8` has already checked on the byte side;
 * anything else uses {@link topicNameError}.
 *
 * @internal
 */
export const topicNameShapeError = (topic: string): string | undefined => {
  const length = topic.length
  if (length === 0) return EMPTY_TOPIC
  for (let i = 0; i < length; i++) {
    const c = topic.charCodeAt(i)
    // One comparison for the common characters: "+" (0x2B) is the largest one rejected.
    if (c <= PLUS && (c === PLUS || c === HASH)) return WILDCARD_IN_TOPIC
  }
  return undefined
}

/**
 * Why `topic` is not a valid topic name (as in PUBLISH), or `undefined` when it is valid.
 *
 * Rules: non-empty [MQTT-4.7.3-1], no `+` or `#` [MQTT-4.7.1-1], and a valid MQTT string (see
 * {@link mqttStringError}): well-formed, so no unpaired surrogate [MQTT-1.5.3-1], no U+0000
 * [MQTT-1.5.3-2][MQTT-4.7.3-2], at most 65535 bytes in UTF-8 [MQTT-1.5.3][MQTT-4.7.3-3]. A topic may
 * start with `$` (e.g. `$SYS/...`); that only affects matching. What a client sends is checked by
 * {@link outgoingTopicNameError} instead.
 *
 * @example
 * topicNameError("sensor/\uD83C") // "topic name contains an unpaired surrogate (U+D83C at index 7), ..."
 *
 * @since 0.1.0
 * @category topics
 */
export const topicNameError = (topic: string): string | undefined =>
  topicNameShapeError(topic) ?? mqttStringError(topic, "topic name")

/**
 * The rules of a topic filter beyond those of any MQTT string: non-empty [MQTT-4.7.3-1], wildcards
 * placed as [MQTT-4.7.1-2] and [MQTT-4.7.1-3] say. For the decoder, whose strings `readUtf8` has
 * already checked on the byte side; anything else uses {@link topicFilterError}.
 *
 * @internal
 */
export const topicFilterShapeError = (filter: string): string | undefined => {
  const length = filter.length
  if (length === 0) return EMPTY_FILTER
  for (let i = 0; i < length; i++) {
    const c = filter.charCodeAt(i)
    if (c > PLUS) continue // the common case: no rule applies
    if (c === HASH) {
      if (i !== length - 1 || (i > 0 && filter.charCodeAt(i - 1) !== SLASH)) return MISPLACED_HASH
    } else if (c === PLUS) {
      if ((i > 0 && filter.charCodeAt(i - 1) !== SLASH) || (i < length - 1 && filter.charCodeAt(i + 1) !== SLASH)) {
        return MISPLACED_PLUS
      }
    }
  }
  return undefined
}

/**
 * Why `filter` is not a valid topic filter (as in SUBSCRIBE and UNSUBSCRIBE), or `undefined` when it is
 * valid.
 *
 * Rules: non-empty [MQTT-4.7.3-1]; `#` only as the last character and alone in its level, so either
 * the whole filter or preceded by `/` [MQTT-4.7.1-2]; `+` alone in its level [MQTT-4.7.1-3]; and a
 * valid MQTT string (see {@link mqttStringError}): no unpaired surrogate [MQTT-1.5.3-1], no U+0000
 * [MQTT-1.5.3-2][MQTT-4.7.3-2], at most 65535 bytes in UTF-8 [MQTT-1.5.3][MQTT-4.7.3-3]. What a client
 * sends is checked by {@link outgoingTopicFilterError} instead.
 *
 * @since 0.1.0
 * @category topics
 */
export const topicFilterError = (filter: string): string | undefined =>
  topicFilterShapeError(filter) ?? mqttStringError(filter, "topic filter")

/**
 * {@link topicNameError}, plus the code points a sender should not use (see {@link outgoingStringError}):
 * the check for a topic name a client is about to send (PUBLISH, the will topic). The reference broker
 * closes the connection on those, so sending one would make a reconnecting client loop.
 *
 * @since 0.2.0
 * @category topics
 */
export const outgoingTopicNameError = (topic: string): string | undefined =>
  topicNameShapeError(topic) ?? outgoingStringError(topic, "topic name")

/**
 * {@link topicFilterError}, plus the code points a sender should not use (see {@link outgoingStringError})
 * and the rules of a shared subscription, `$share/{ShareName}/{filter}` [MQTT-4.8.2] (see
 * `parseSharedSubscription`): the check for a topic filter a client is about to send (SUBSCRIBE,
 * UNSUBSCRIBE), whatever the protocol version.
 *
 * @since 0.2.0
 * @category topics
 */
export const outgoingTopicFilterError = (filter: string): string | undefined =>
  topicFilterShapeError(filter) ?? sharedSubscriptionError(filter) ?? outgoingStringError(filter, "topic filter")

/**
 * Whether the topic name `topic` matches the topic filter `filter` [MQTT-4.7.1].
 *
 * - `+` matches exactly one level, which may be empty: `+/+` matches `/finance` [MQTT-4.7.1-3].
 * - `#` matches the rest, including the parent level: `a/#` matches `a`, `a/` and `a/b/c` [MQTT-4.7.1-2].
 * - A topic starting with `$` is not matched by a filter starting with `+` or `#` [MQTT-4.7.2-1].
 *
 * Both arguments are assumed valid (see {@link topicFilterError} and {@link topicNameError}); the
 * comparison walks the two strings once and does not allocate.
 *
 * @since 0.1.0
 * @category topics
 */
export const matches = (filter: string, topic: string): boolean => {
  const fl = filter.length
  const tl = topic.length
  if (topic.charCodeAt(0) === DOLLAR) {
    const first = filter.charCodeAt(0)
    if (first === PLUS || first === HASH) return false // [MQTT-4.7.2-1]
  }
  let fi = 0
  let ti = 0
  // Invariant: fi and ti are at the start of a level of the filter and of the topic.
  for (;;) {
    const c = filter.charCodeAt(fi) // NaN past the end
    if (c === HASH) return true // the rest of the topic, whatever it is [MQTT-4.7.1-2]
    if (c === PLUS) {
      fi++
      while (ti < tl && topic.charCodeAt(ti) !== SLASH) ti++
    } else {
      while (fi < fl) {
        const f = filter.charCodeAt(fi)
        if (f === SLASH) break
        if (topic.charCodeAt(ti) !== f) return false
        fi++
        ti++
      }
      if (ti < tl && topic.charCodeAt(ti) !== SLASH) return false
    }
    // Both levels ended: each index is at its string's end or at a "/".
    if (fi === fl) return ti === tl
    if (ti === tl) {
      // Only a trailing "/#" matches the parent level [MQTT-4.7.1-2].
      return fi + 2 === fl && filter.charCodeAt(fi + 1) === HASH
    }
    fi++
    ti++
  }
}

/** One level of a {@link TopicTrie}. */
class TrieNode<A> {
  /** Children by literal level (which may be empty). */
  children: Map<string, TrieNode<A>> | undefined = undefined
  /** The child for a `+` level. */
  plus: TrieNode<A> | undefined = undefined
  /** Values of the filters ending with `#` at this level. */
  hash: Array<A> | undefined = undefined
  /** Values of the filters ending exactly at this level. */
  exact: Array<A> | undefined = undefined

  isEmpty(): boolean {
    return this.exact === undefined && this.hash === undefined && this.plus === undefined &&
      this.children === undefined
  }
}

const pushAll = <A>(from: Array<A>, into: Array<A>): void => {
  for (let i = 0; i < from.length; i++) into.push(from[i] as A)
}

/** Removes `value` from `values`, in place and without keeping order; returns whether it was there. */
const removeValue = <A>(values: Array<A>, value: A): boolean => {
  const index = values.indexOf(value)
  if (index < 0) return false
  const last = values.pop() as A
  if (index < values.length) values[index] = last
  return true
}

/**
 * A trie of topic filters, keyed by filter level, mapping each filter to a set of values (e.g. the
 * subscriptions made with it). {@link TopicTrie.match} visits only the branches a topic can reach (the
 * literal level, `+` and `#` at each depth), so its cost depends on the topic's depth, not on the
 * number of filters.
 *
 * Filters must be valid (see {@link topicFilterError}): a `#` level that is not the last is stored as a
 * literal. Matching follows {@link matches}, including the `$` rule [MQTT-4.7.2-1].
 *
 * @example
 * const trie = new TopicTrie<string>()
 * trie.add("sport/tennis/+", "scores")
 * trie.add("sport/#", "all sport")
 * trie.match("sport/tennis/player1") // ["all sport", "scores"] (in some order)
 *
 * @since 0.1.0
 * @category topics
 */
export class TopicTrie<A> {
  #root = new TrieNode<A>()
  #size = 0

  /** The number of (filter, value) pairs stored. @since 0.1.0 */
  get size(): number {
    return this.#size
  }

  /** Whether no filter is stored. @since 0.1.0 */
  get isEmpty(): boolean {
    return this.#size === 0
  }

  /**
   * Stores `value` under `filter`. Each filter holds a set of values (compared with `===`): adding a
   * pair that is already there changes nothing and returns `false`.
   *
   * @since 0.1.0
   */
  add(filter: string, value: A): boolean {
    const levels = filter.split("/")
    const last = levels.length - 1
    let node = this.#root
    for (let i = 0; i < last; i++) node = childFor(node, levels[i] as string)
    const level = levels[last] as string
    if (level === "#") {
      if (node.hash === undefined) node.hash = [value]
      else if (node.hash.includes(value)) return false
      else node.hash.push(value)
    } else {
      const leaf = childFor(node, level)
      if (leaf.exact === undefined) leaf.exact = [value]
      else if (leaf.exact.includes(value)) return false
      else leaf.exact.push(value)
    }
    this.#size++
    return true
  }

  /**
   * Removes `value` from `filter`; returns whether the pair was there. Nodes left without values or
   * children are pruned, so an emptied trie holds no memory for removed filters.
   *
   * @since 0.1.0
   */
  remove(filter: string, value: A): boolean {
    const levels = filter.split("/")
    const last = levels.length - 1
    const path: Array<TrieNode<A>> = [this.#root]
    let node: TrieNode<A> | undefined = this.#root
    const depth = levels[last] === "#" ? last : last + 1
    for (let i = 0; i < depth; i++) {
      node = childAt(node, levels[i] as string)
      if (node === undefined) return false
      path.push(node)
    }
    if (depth === last) {
      if (node.hash === undefined || !removeValue(node.hash, value)) return false
      if (node.hash.length === 0) node.hash = undefined
    } else {
      if (node.exact === undefined || !removeValue(node.exact, value)) return false
      if (node.exact.length === 0) node.exact = undefined
    }
    this.#size--
    // Prune from the deepest node up; path[i] is the child of path[i - 1] at levels[i - 1].
    for (let i = path.length - 1; i > 0; i--) {
      const child = path[i] as TrieNode<A>
      if (!child.isEmpty()) break
      const parent = path[i - 1] as TrieNode<A>
      const level = levels[i - 1] as string
      if (level === "+") parent.plus = undefined
      else if (parent.children !== undefined) {
        parent.children.delete(level)
        if (parent.children.size === 0) parent.children = undefined
      }
    }
    return true
  }

  /**
   * Every value whose filter matches `topic`. A value stored under several matching filters appears
   * once per filter; the order is unspecified. Returns a fresh array.
   *
   * @since 0.1.0
   */
  match(topic: string): Array<A> {
    const out: Array<A> = []
    if (this.#size === 0) return out
    collect(this.#root, topic.split("/"), 0, out, topic.charCodeAt(0) === DOLLAR)
    return out
  }
}

/** The child of `node` for a filter level, created when missing. */
const childFor = <A>(node: TrieNode<A>, level: string): TrieNode<A> => {
  if (level === "+") return node.plus ??= new TrieNode<A>()
  const children = node.children ??= new Map()
  let child = children.get(level)
  if (child === undefined) {
    child = new TrieNode<A>()
    children.set(level, child)
  }
  return child
}

/** The child of `node` for a filter level, if any. */
const childAt = <A>(node: TrieNode<A>, level: string): TrieNode<A> | undefined =>
  level === "+" ? node.plus : node.children?.get(level)

/**
 * Pushes into `out` the values of every filter below `node` matching `levels` from index `i`.
 * `rootOfDollarTopic`: at the root of a topic starting with `$`, skip `+` and `#` [MQTT-4.7.2-1].
 */
const collect = <A>(node: TrieNode<A>, levels: Array<string>, i: number, out: Array<A>, rootOfDollarTopic: boolean) => {
  // `#` matches the remaining levels, and also none of them (the parent level) [MQTT-4.7.1-2].
  if (node.hash !== undefined && !rootOfDollarTopic) pushAll(node.hash, out)
  if (i === levels.length) {
    if (node.exact !== undefined) pushAll(node.exact, out)
    return
  }
  const child = node.children?.get(levels[i] as string)
  if (child !== undefined) collect(child, levels, i + 1, out, false)
  if (node.plus !== undefined && !rootOfDollarTopic) collect(node.plus, levels, i + 1, out, false)
}
