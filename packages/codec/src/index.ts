/**
 * @aimeqtt/codec: MQTT 3.1.1 and MQTT 5.0 packets as Effect Schema models, with encoders and
 * decoders that take the protocol version as a parameter (4 by default). No I/O.
 *
 * @since 0.1.0
 */
export * from "./Packet.ts"
export * from "./DecodeError.ts"
export { PacketId, type ProtocolVersion, QoS } from "./packets/fields.ts"
export { Connect, ConnectV5, Will, WillV5 } from "./packets/Connect.ts"
export { Connack, ConnackV5, ConnectReturnCode } from "./packets/Connack.ts"
export { Publish, PublishV5 } from "./packets/Publish.ts"
export { Puback, PubackV5 } from "./packets/Puback.ts"
export { Pubrec, PubrecV5 } from "./packets/Pubrec.ts"
export { Pubrel, PubrelV5 } from "./packets/Pubrel.ts"
export { Pubcomp, PubcompV5 } from "./packets/Pubcomp.ts"
export { Subscribe, SubscribeV5, SubscriptionRequest, SubscriptionRequestV5 } from "./packets/Subscribe.ts"
export { Suback, SubackReturnCode, SubackV5 } from "./packets/Suback.ts"
export { Unsubscribe, UnsubscribeV5 } from "./packets/Unsubscribe.ts"
export { Unsuback, UnsubackV5 } from "./packets/Unsuback.ts"
export { Pingreq } from "./packets/Pingreq.ts"
export { Pingresp } from "./packets/Pingresp.ts"
export { Disconnect, DisconnectV5 } from "./packets/Disconnect.ts"
export { Auth } from "./packets/Auth.ts"
export { PacketType } from "./PacketType.ts"
export {
  PropertiesSchema,
  propertyCarriers,
  type PropertiesOf,
  type PropertyCarrier,
  type PropertyName,
  propertyTable,
  type PropertyType,
  propertyValue,
  UserProperties
} from "./Properties.ts"
export {
  isReasonCodeOf,
  ReasonCode,
  type ReasonCodeCarrier,
  reasonCodeCarriers,
  reasonCodeName,
  type ReasonCodeOf,
  ReasonCodeSchema,
  reasonCodesOf,
  reasonCodeTable
} from "./ReasonCode.ts"
export { matches, outgoingTopicFilterError, outgoingTopicNameError, topicFilterError, topicNameError, TopicTrie } from "./Topic.ts"
export {
  isSharedSubscription,
  matchingFilter,
  parseSharedSubscription,
  type SharedSubscription,
  sharedSubscriptionError
} from "./SharedSubscription.ts"
export { discouragedCodePointError, MAX_STRING_BYTES, mqttStringError, outgoingStringError, utf8Length } from "./MqttString.ts"
export { encode, encodeAll, encodedLength, encodePublishHead } from "./encode.ts"
export type { EncodeOptions } from "./encode.ts"
export { decode, decodePacket } from "./decode.ts"
export type { DecodeOptions } from "./decode.ts"
export { decodeStream, Decoder } from "./Decoder.ts"
export { PacketFromBytes, packetError, packetFromBytes } from "./PacketFromBytes.ts"
