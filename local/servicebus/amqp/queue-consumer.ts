/**
 * A client's receiver on a queue (the broker's sending link): takes messages as credit allows, answers
 * drain, and turns the client's outcomes into settlements (accepted = complete, modified = abandon or
 * defer, rejected with com.microsoft:dead-letter = dead-letter).
 */
import { randomUUID } from 'node:crypto';
import type { Delivery, Sender } from 'rhea';
import type { BrokeredMessage } from '../entities/message.js';
import type { Consumer, MessageQueue, ReceiveMode, Settlement } from '../entities/message-queue.js';
import { Condition } from '../entities/errors.js';
import { bodyBytesOf, deliveryTagOf, encodeOutgoing } from './codec.js';
import { guarded, toAmqpError } from './errors.js';
import { acceptedOutcome, rejectedOutcome } from './rhea-extras.js';

/** rhea keeps a link's credit accounting in fields its typings leave out. */
interface SenderAccounting {
  credit: number;
  delivery_count: number;
  issue_flow: boolean;
  _draining?: boolean;
  _get_drain(): boolean;
}

/** An outcome as rhea decodes it from the client's disposition. */
interface RemoteOutcome {
  constructor: { composite_type?: string };
  error?: { condition?: string; description?: string; info?: Record<string, unknown> };
  undeliverable_here?: boolean;
  message_annotations?: Record<string, unknown>;
}

const DEAD_LETTER_CONDITION = 'com.microsoft:dead-letter';

/** Counts what this link does (the broker's counters: deliveries, their bytes, settlements). */
export type ConsumerRecorder = (counter: string, amount?: number) => void;

export class QueueConsumer implements Consumer {
  /** Deliveries sent over the link's lifetime (plus credit given back by drain). */
  private sent = 0;
  private readonly lockTokens = new Map<Delivery, string>();
  private closed = false;
  /** Answer a drain whose credit our transfers already used up (rhea only echoes drain with credit left). */
  private echoDrain = false;

  constructor(
    readonly link: Sender,
    readonly queue: MessageQueue,
    readonly receiveMode: ReceiveMode,
    private readonly record: ConsumerRecorder = () => undefined,
  ) {
    link.on('sendable', () => guarded(() => this.queue.dispatch()));
    link.on('sender_flow', () => guarded(() => this.queue.dispatch()));
    link.on('sender_draining', () => guarded(() => this.drain()));
    const accounting = this.accounting;
    const drainFlag = accounting._get_drain.bind(link);
    accounting._get_drain = () => {
      if (!this.echoDrain) return drainFlag();
      this.echoDrain = false;
      return true;
    };
    for (const outcome of ['accepted', 'rejected', 'modified', 'released'] as const) {
      link.on(outcome, (context) => guarded(() => context.delivery && this.settle(context.delivery)));
    }
  }

  private get accounting(): SenderAccounting {
    return this.link as unknown as SenderAccounting;
  }

  availableCredit(): number {
    if (this.closed) return 0;
    // credit + delivery_count is the limit the client set; everything sent counts against it, including
    // deliveries rhea has queued but not written yet.
    return this.accounting.credit + this.accounting.delivery_count - this.sent;
  }

  deliver(message: BrokeredMessage): void {
    const peekLock = this.receiveMode === 'peekLock' && message.lock !== undefined;
    const tag = peekLock
      ? deliveryTagOf(message.lock!.token)
      : Buffer.from(randomUUID().replaceAll('-', ''), 'hex');
    const encoded = encodeOutgoing(message, { includeLock: peekLock, deliveryCount: message.deliveryCount });
    // Format 0 tells rhea the payload is already encoded.
    const delivery = this.link.send(encoded, tag, 0);
    this.sent++;
    this.record('deliveries');
    this.record('deliveryBytes', encoded.length);
    this.record('deliveryBodyBytes', bodyBytesOf(message.message));
    if (peekLock) this.lockTokens.set(delivery, message.lock!.token);
  }

  /** The client asked to drain: deliver what there is, then give the rest of the credit back. */
  private drain(): void {
    this.queue.dispatch();
    if (!this.accounting._draining) return;
    const left = this.availableCredit();
    if (left > 0) {
      this.sent += left;
      this.link.set_drained(true);
    } else {
      // The client asked to drain while our transfers were on their way: it still waits for a flow
      // with drain set.
      this.echoDrain = true;
      this.accounting.issue_flow = true;
    }
  }

  private settle(delivery: Delivery): void {
    const token = this.lockTokens.get(delivery);
    if (token === undefined) return;
    this.lockTokens.delete(delivery);
    const outcome = delivery.remote_state as unknown as RemoteOutcome | undefined;
    const settlement = settlementOf(outcome);
    this.record(`settle:${settlement.kind}`);
    try {
      this.queue.settle(token, this, settlement);
      reply(delivery, acceptedOutcome());
    } catch (error) {
      reply(delivery, rejectedOutcome(toAmqpError(error)));
    }
  }

  sessionLockLost(): void {
    this.close({ condition: Condition.sessionLockLost, description: 'The session lock has expired.' });
  }

  /** The queue's entity went away or the session lock ran out. */
  close(error?: { condition: string; description: string }): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.removeConsumer(this);
    if (this.link.is_open()) this.link.close(error);
  }

  /** The link closed from the client's side. */
  detached(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.removeConsumer(this);
  }
}

function settlementOf(outcome: RemoteOutcome | undefined): Settlement {
  switch (outcome?.constructor.composite_type) {
    case 'accepted':
      return { kind: 'complete' };
    case 'rejected': {
      const info = outcome.error?.info ?? {};
      if (outcome.error?.condition !== DEAD_LETTER_CONDITION) return { kind: 'abandon' };
      return {
        kind: 'deadLetter',
        reason: typeof info.DeadLetterReason === 'string' ? info.DeadLetterReason : undefined,
        description:
          typeof info.DeadLetterErrorDescription === 'string' ? info.DeadLetterErrorDescription : undefined,
      };
    }
    case 'modified':
      return outcome.undeliverable_here
        ? { kind: 'defer', propertiesToModify: outcome.message_annotations }
        : { kind: 'abandon', propertiesToModify: outcome.message_annotations };
    default:
      return { kind: 'abandon' };
  }
}

/** Settle our side with a fresh outcome; the client's promise resolves on it. */
function reply(delivery: Delivery, state: unknown): void {
  delivery.update(true, state);
  // The client never settles after us; without this rhea keeps the delivery and its window fills up.
  (delivery as { remote_settled: boolean }).remote_settled = true;
}
