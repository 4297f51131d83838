/**
 * Browser example: QoS 1/2 publishes that survive a page reload. The client keeps its session in IndexedDB
 * (`IndexedDbSessionStore`) and connects with a fixed client id and `cleanSession: false`, so a publish
 * still in flight when the page is reloaded (or the tab crashes) is finished by the next load of the page:
 * PUBLISH again with DUP for a flow waiting for PUBACK/PUBREC, PUBREL for one waiting for PUBCOMP.
 *
 *   ?url=ws://127.0.0.1:9001/mqtt&clientId=my-page
 *
 * Bundled by `../browser/build.ts` (`node --conditions=@aimeqtt/source browser/build.ts OUTDIR browser-session`).
 * `#status` carries `data-state`: starting, connecting, connected or error. `#stored` lists the flows in
 * IndexedDB, `#log` the publish flow packets. For the devtools console (and `test/browser.indexeddb.test.ts`)
 * the page also sets `globalThis.aimeqttSession`:
 * - `publish(topic, text, qos)`: a Promise of `"done"` once acknowledged (PUBACK, or PUBCOMP), or of the error's message;
 * - `stored()`: a Promise of what the store holds for the client id (`{ outgoing, incoming }`), or of the error's message.
 */
import { IndexedDbSessionStore, MqttClient } from "@aimeqtt/client"
import { Effect, Layer } from "effect"
import { type Element, page, params, show, url } from "../browser/page.ts"
import type { SessionApi, StoredSummary } from "./api.ts"

/** Where the page publishes its session API. */
const session = globalThis as unknown as { aimeqttSession?: SessionApi }
const clientId = params.get("clientId") ?? "aimeqtt-browser-session"

const storedList = page.document.getElementById("stored")
const log = page.document.getElementById("log")

const item = (text: string): Element => {
  const li = page.document.createElement("li")
  li.textContent = text
  return li
}

/** Reads the stored session through a connection of its own (the client keeps its own open). */
const stored: Effect.Effect<StoredSummary, { readonly message: string }> = Effect.scoped(
  Effect.flatMap(IndexedDbSessionStore.make().open(clientId), (store) => store.load)
).pipe(
  Effect.map((session) => ({
    outgoing: session.outgoing.map(({ packetId, qos, stage, topic }) => ({ packetId, stage, topic, qos })),
    incoming: [...session.incoming]
  }))
)

const refresh = stored.pipe(
  Effect.tap((session) =>
    Effect.sync(() =>
      storedList?.replaceChildren(
        ...session.outgoing.map((f) => item(`#${f.packetId} ${f.topic} (QoS ${f.qos}): ${f.stage}`))
      )
    )
  ),
  Effect.ignore
)

const program = Effect.gen(function*() {
  const mqtt = yield* MqttClient
  const publish = (topic: string, text: string, qos: 1 | 2) =>
    mqtt.publish(topic, text, { qos }).pipe(
      Effect.as("done"),
      Effect.catch((error) => Effect.succeed(`error: ${error.message}`)),
      Effect.tap((result) => Effect.sync(() => log?.prepend(item(`publish ${topic} (QoS ${qos}): ${result}`))))
    )
  session.aimeqttSession = {
    publish: (topic, text, qos) => Effect.runPromise(publish(topic, text, qos)),
    stored: () => Effect.runPromise(stored.pipe(Effect.catch((error) => Effect.succeed(error.message))))
  }
  page.document.getElementById("publish")?.addEventListener("submit", (event) => {
    event.preventDefault()
    const value = (id: string) => page.document.getElementById(id)?.value ?? ""
    void Effect.runPromise(publish(value("topic"), value("text"), value("qos") === "1" ? 1 : 2))
  })
  yield* refresh
  yield* show("connected", `connected to ${url} as ${clientId}`)
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.provide(
    MqttClient.layer({
      url,
      clientId,
      cleanSession: false, // the broker keeps its half of the session too [MQTT-3.1.2-4]
      connectTimeout: "10 seconds",
      // the store holds a flow before its packet is sent: show it and each step of it
      onPacket: ({ direction, packet }) =>
        "packetId" in packet && packet._tag !== "Subscribe" && packet._tag !== "Suback"
          ? Effect.sync(() => {
            log?.prepend(item(`${direction} ${packet._tag} #${String(packet.packetId)}`))
            void Effect.runPromise(refresh)
          })
          : Effect.void
    }).pipe(Layer.provide(IndexedDbSessionStore.layer()))
  ),
  Effect.catch((error) => show("error", `error: ${error.message}`))
)

Effect.runFork(Effect.andThen(show("connecting", `connecting to ${url} as ${clientId}…`), program))
