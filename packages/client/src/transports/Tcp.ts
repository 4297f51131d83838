/**
 * MQTT over TCP [MQTT-4.2]: `mqtt://` (also `tcp://`), port 1883. Node only: in a browser the connection
 * fails with a `ConnectError` (browsers cannot open TCP connections).
 *
 * @since 0.4.0
 */
import { Effect } from "effect"
import * as Platform from "#transport"
import { fromSocket, make, type Transport } from "./Definition.ts"

/**
 * The TCP transport: `mqtt://host:port`, `tcp://host:port` (default port 1883), Nagle's algorithm off.
 *
 * @since 0.4.0
 * @category transports
 */
export const tcp: Transport = make({
  schemes: ["mqtt", "tcp"],
  defaultPort: 1883,
  connect: (endpoint, timeout) => Effect.flatMap(Platform.tcp(endpoint, timeout), fromSocket)
})
