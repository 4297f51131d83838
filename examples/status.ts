/**
 * One line of text per connection status, for the examples that watch `MqttClient.status`.
 */
import type { ConnectionStatus } from "@aimeqtt/client"
import { Duration } from "effect"

export const describeStatus = (status: ConnectionStatus): string => {
  switch (status._tag) {
    case "Connected":
      return `connected (session present: ${status.sessionPresent})`
    case "Disconnected":
      return `disconnected: ${status.cause?.message ?? "no cause"}`
    case "Reconnecting":
      return `reconnecting, attempt ${status.attempt} in ${Duration.format(status.delay)}`
  }
}
