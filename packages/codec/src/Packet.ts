/**
 * Every MQTT control packet, as the union of the models of the packet modules (`packets/`), for each
 * protocol version: `Packet` (MQTT 3.1.1, the default) and `PacketV5` (MQTT 5.0). The models are
 * plain structs (no classes) so the decoder can build them as object literals on the hot path.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Auth } from "./packets/Auth.ts"
import { Connack, ConnackV5 } from "./packets/Connack.ts"
import { Connect, ConnectV5 } from "./packets/Connect.ts"
import { Disconnect, DisconnectV5 } from "./packets/Disconnect.ts"
import type { ProtocolVersion } from "./packets/fields.ts"
import { Pingreq } from "./packets/Pingreq.ts"
import { Pingresp } from "./packets/Pingresp.ts"
import { Puback, PubackV5 } from "./packets/Puback.ts"
import { Pubcomp, PubcompV5 } from "./packets/Pubcomp.ts"
import { Publish, PublishV5 } from "./packets/Publish.ts"
import { Pubrec, PubrecV5 } from "./packets/Pubrec.ts"
import { Pubrel, PubrelV5 } from "./packets/Pubrel.ts"
import { Suback, SubackV5 } from "./packets/Suback.ts"
import { Subscribe, SubscribeV5 } from "./packets/Subscribe.ts"
import { Unsuback, UnsubackV5 } from "./packets/Unsuback.ts"
import { Unsubscribe, UnsubscribeV5 } from "./packets/Unsubscribe.ts"

/**
 * Any MQTT 3.1.1 control packet.
 *
 * @since 0.1.0
 * @category packets
 */
export const Packet = Schema.Union([
  Connect,
  Connack,
  Publish,
  Puback,
  Pubrec,
  Pubrel,
  Pubcomp,
  Subscribe,
  Suback,
  Unsubscribe,
  Unsuback,
  Pingreq,
  Pingresp,
  Disconnect
])

/**
 * Any MQTT 5.0 control packet.
 *
 * @since 0.3.0
 * @category packets
 */
export const PacketV5 = Schema.Union([
  ConnectV5,
  ConnackV5,
  PublishV5,
  PubackV5,
  PubrecV5,
  PubrelV5,
  PubcompV5,
  SubscribeV5,
  SubackV5,
  UnsubscribeV5,
  UnsubackV5,
  Pingreq,
  Pingresp,
  DisconnectV5,
  Auth
])

/**
 * Any control packet of protocol version `V` (4 by default); `Packet<ProtocolVersion>` is a packet of
 * either.
 *
 * @since 0.1.0
 * @category packets
 */
export type Packet<V extends ProtocolVersion = 4> = V extends 5 ? typeof PacketV5.Type : typeof Packet.Type

/**
 * The `_tag` of any packet of protocol version `V` (4 by default).
 *
 * @since 0.1.0
 * @category packets
 */
export type PacketTag<V extends ProtocolVersion = 4> = Packet<V>["_tag"]
