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
export const amqpReader = (buffer: Buffer): AmqpReader => new ReaderClass(buffer);
