/** Broker errors as AMQP error fields; anything unexpected becomes an internal error (logged once). */
import type { AmqpError } from 'rhea';
import { BrokerError, Condition } from '../entities/errors.js';

export function toAmqpError(error: unknown): AmqpError {
  if (error instanceof BrokerError) return { condition: error.condition, description: error.message };
  console.error('[servicebus] internal error:', error);
  return { condition: Condition.internalError, description: 'The broker failed to process the request.' };
}

/**
 * Run an event handler so that a failure is logged instead of thrown: rhea calls handlers while it reads
 * a frame, and an exception there would drop the whole connection.
 */
export function guarded(action: () => void): void {
  try {
    action();
  } catch (error) {
    console.error('[servicebus] handler failed:', error);
  }
}
