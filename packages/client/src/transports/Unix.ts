/**
 * MQTT over a Unix domain socket: `mqtt+unix:///path/to/socket` (the scheme MQTT.js uses; mosquitto
 * listens on one with `listener 0 /path/to/socket`, and `mosquitto_pub --unix PATH` connects to it). The
 * byte stream is the same as over TCP [MQTT-4.2]. Node only: in a browser the connection fails with a
 * `ConnectError`.
 *
 * @since 0.4.0
 */
import { Effect } from "effect"
import * as Platform from "#transport"
import { fromSocket, make, type Transport } from "./Definition.ts"

/**
 * The Unix domain socket transport: `mqtt+unix:///run/mosquitto/mqtt.sock` (three slashes: no host, the
 * path percent-decoded). A missing socket or one nobody listens on fails with a `ConnectError` naming the path.
 *
 * @since 0.4.0
 * @category transports
 */
export const unix: Transport = make({
  schemes: ["mqtt+unix"],
  address: "file",
  connect: (endpoint, timeout) => Effect.flatMap(Platform.unix(endpoint, timeout), fromSocket)
})
