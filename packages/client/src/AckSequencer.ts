/**
 * Keeps acknowledgements of incoming messages in the order the messages arrived when some of them
 * wait for a manual `ack`: PUBACK and PUBREC must go out in the order of their PUBLISH packets
 * [MQTT-4.6.0-2] [MQTT-4.6.0-3]. A message acknowledged early waits behind an older one still held.
 *
 * Pure: no I/O, no Effect. One sequencer per connection; when the connection ends, what is still
 * held is dropped (the broker re-delivers it to a persistent session after the reconnect).
 *
 * @since 0.1.0
 */
import type { Packet as AnyVersionPacket, ProtocolVersion } from "@aimeqtt/codec"
import type { StoreChange } from "./SessionStore.ts"

type Packet = AnyVersionPacket<ProtocolVersion>

/** Acknowledgements ready to go out, in order, and the session changes to store before they do. @since 0.4.0 */
export interface Ready {
  readonly packets: Array<Packet>
  readonly changes: Array<StoreChange>
}

/** One incoming message's acknowledgement, held until `holders` reach zero. @since 0.1.0 */
export interface HeldAck {
  readonly packets: ReadonlyArray<Packet>
  /** The message's packet id (for QoS 2: forgotten by the session if the ack never ran). */
  readonly packetId: number | undefined
  /** Session changes to store once it is acknowledged, before its packets (a QoS 2 id: see Router). */
  readonly changes: ReadonlyArray<StoreChange>
  holders: number
  sealed: boolean
  acked: boolean
}

/** @since 0.1.0 */
export class AckSequencer {
  #queue: Array<HeldAck> = []
  #head = 0

  /** Whether nothing is held: acknowledgements may then go out at once. */
  get isEmpty(): boolean {
    return this.#head === this.#queue.length
  }

  /** Registers an acknowledgement in arrival order; `holder` / `seal` decide when it is ready. */
  hold(packets: ReadonlyArray<Packet>, packetId: number | undefined, changes: ReadonlyArray<StoreChange> = []): HeldAck {
    const held: HeldAck = { packets, packetId, changes, holders: 0, sealed: false, acked: false }
    this.#queue.push(held)
    return held
  }

  /** Every manual stream that got the message adds one holder before it can ack. */
  addHolder(held: HeldAck): void {
    held.holders++
  }

  /** Delivery is over: no more holders will be added. Returns what is now ready to send, in order. */
  seal(held: HeldAck): Ready {
    held.sealed = true
    return this.#flush()
  }

  /** One holder acknowledged (idempotence is the caller's). Returns what is now ready, in order. */
  release(held: HeldAck): Ready {
    held.holders--
    return this.#flush()
  }

  /** Drops everything held (the connection ended); returns what was never acknowledged. */
  clear(): Array<HeldAck> {
    const left = this.#queue.slice(this.#head)
    this.#queue = []
    this.#head = 0
    return left
  }

  #flush(): Ready {
    const ready: Ready = { packets: [], changes: [] }
    while (this.#head < this.#queue.length) {
      const held = this.#queue[this.#head] as HeldAck
      if (!held.sealed || held.holders > 0) break
      held.acked = true
      ready.packets.push(...held.packets)
      ready.changes.push(...held.changes)
      this.#head++
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    return ready
  }
}
