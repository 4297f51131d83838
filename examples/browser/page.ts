/**
 * What the browser examples (`browser/main.ts`, `browser-session/main.ts`) share: the few DOM members they
 * use (the examples are type-checked without the DOM lib), the broker URL from the page's query string
 * (`?url=ws://127.0.0.1:9001/mqtt`), and `show`, which sets `#status`'s `data-state` and text.
 */
import { Effect } from "effect"

/** The members of a DOM element the example pages use. */
export interface Element {
  textContent: string | null
  readonly value: string
  setAttribute(name: string, value: string): void
  append(...nodes: ReadonlyArray<Element>): void
  prepend(...nodes: ReadonlyArray<Element>): void
  replaceChildren(...nodes: ReadonlyArray<Element>): void
  addEventListener(type: "submit", listener: (event: { preventDefault(): void }) => void): void
}

/** The members of the page's global object the example pages use. */
export interface Page {
  readonly location: { readonly search: string }
  readonly document: {
    getElementById(id: string): Element | null
    createElement(tag: string): Element
  }
}

/** The page (`globalThis`). */
export const page = globalThis as unknown as Page

/** The page's query parameters. */
export const params = new URLSearchParams(page.location.search)

/** `?url=`: the broker's WebSocket URL, `ws://127.0.0.1:9001/mqtt` when absent. */
export const url = params.get("url") ?? "ws://127.0.0.1:9001/mqtt"

const status = page.document.getElementById("status")

/** Sets `#status`'s `data-state` (`connecting`, `subscribed`, `error`, ...; what the tests wait for) and its text. */
export const show = (state: string, text: string) =>
  Effect.sync(() => {
    status?.setAttribute("data-state", state)
    if (status !== null) status.textContent = text
  })
