/**
 * The parts of rhea that its typings leave out or type loosely, typed once here: delivery outcomes,
 * message decoding and the AMQP type reader.
 */
import rhea, { type AmqpError, type Message } from 'rhea';

interface Described {
  described(): unknown;
}
interface OutcomeFactories {
  accepted(): Described;
  rejected(fields: { error: AmqpError }): Described;
  encode(message: Message): Buffer;
  decode(buffer: Buffer): Message;
}
interface TypedValue {
  descriptor?: { value: unknown };
  value: unknown;
}
interface AmqpReader {
  remaining(): number;
  read(): TypedValue;
}

const messageUtil = rhea.message as unknown as OutcomeFactories;
const ReaderClass = (rhea.types as unknown as { Reader: new (buffer: Buffer) => AmqpReader }).Reader;

export const acceptedOutcome = (): unknown => messageUtil.accepted().described();
export const rejectedOutcome = (error: AmqpError): unknown => messageUtil.rejected({ error }).described();
export const encodeMessage = (message: Message): Buffer => messageUtil.encode(message);
export const decodeMessage = (buffer: Buffer): Message => messageUtil.decode(buffer);

/**
 * rhea decodes each incoming transfer (message format 0) and hands on only the decoded message. The broker
 * also wants the bytes (the encoded size without encoding again, and the client's sections to forward as
 * sent), so rhea's decoder is wrapped once to keep its latest input beside its result; the broker takes it
 * in the same turn (rhea emits 'message' right after decoding). One slot, so nothing accumulates.
 */
let lastDecoded: { message: Message; encoded: Buffer } | undefined;
const rheaDecode = messageUtil.decode.bind(messageUtil);
messageUtil.decode = (buffer: Buffer): Message => {
  const message = rheaDecode(buffer);
  lastDecoded = { message, encoded: buffer };
  return message;
};

/** The bytes `message` was decoded from by rhea just now, if it was. */
export function takeEncoding(message: Message): Buffer | undefined {
  const last = lastDecoded;
  lastDecoded = undefined;
  return last?.message === message ? last.encoded : undefined;
}
export const amqpReader = (buffer: Buffer): AmqpReader => new ReaderClass(buffer);
