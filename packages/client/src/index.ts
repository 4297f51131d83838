/**
 * @aimeqtt/client: an Effect-native MQTT 3.1.1 and 5.0 client.
 *
 * The Node entry: the portable API of `index.browser.ts` (also what browsers get, through the
 * `browser` export condition) plus the Node-only modules.
 *
 * @since 0.1.0
 */
export * from "./index.browser.ts"
export * as FileSessionStore from "./FileSessionStore.ts"
export * as SqliteSessionStore from "./SqliteSessionStore.ts"
