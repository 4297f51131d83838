/**
 * MQTT over TLS [MQTT-4.2]: `mqtts://` (also `ssl://`, `tls://`), port 8883, with the `tls` options
 * (certificate checks, mutual TLS, ALPN, encrypted keys, PKCS#12, cipher and version limits). Node only:
 * in a browser the connection fails with a `ConnectError`.
 *
 * @since 0.4.0
 */
import { Effect } from "effect"
import * as Platform from "#transport"
import { fromSocket, make, type Transport } from "./Definition.ts"

/**
 * The TLS transport: `mqtts://host:port`, `ssl://`, `tls://` (default port 8883). A failed handshake fails
 * with a `ConnectError` whose `cause` is a `TlsError`.
 *
 * @since 0.4.0
 * @category transports
 */
export const tls: Transport = make({
  schemes: ["mqtts", "ssl", "tls"],
  defaultPort: 8883,
  secure: true,
  connect: (endpoint, timeout) => Effect.flatMap(Platform.tls(endpoint, timeout), fromSocket)
})
