/**
 * @aimeqtt/codec: MQTT 3.1.1 packets as Effect Schema models, with encoders and decoders. No I/O.
 *
 * @since 0.1.0
 */
export * from "./Packet.ts"
export * from "./DecodeError.ts"
export { matches, outgoingTopicFilterError, outgoingTopicNameError, topicFilterError, topicNameError, TopicTrie } from "./Topic.ts"
export {
  isSharedSubscription,
  matchingFilter,
  parseSharedSubscription,
  type SharedSubscription,
  sharedSubscriptionError
} from "./SharedSubscription.ts"
export { discouragedCodePointError, MAX_STRING_BYTES, mqttStringError, outgoingStringError, utf8Length } from "./MqttString.ts"
export { encode, encodeAll, encodedLength } from "./encode.ts"
export { decode, decodePacket } from "./decode.ts"
export type { DecodeOptions } from "./decode.ts"
export { decodeStream, Decoder } from "./Decoder.ts"
export { PacketFromBytes, packetError } from "./PacketFromBytes.ts"
