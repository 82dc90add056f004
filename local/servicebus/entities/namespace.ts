/**
 * A Service Bus namespace: its queues (names are case-insensitive, as in Service Bus) and its
 * namespace-level shared access rules.
 */
import { EventEmitter } from 'node:events';
import type { AuthorizationRule, RuleSource } from '../auth/sas.js';
import { BrokerStats } from '../stats/broker-stats.js';
import { BrokerError, Condition, entityNotFound } from './errors.js';
import { InMemoryMessageStore, type MessageStoreFactory } from './message-store.js';
import { QueueEntity, type QueueDirectory } from './queue.js';
import { topicPathKind, topicsNotEmulated } from './topics-not-emulated.js';
import { isValidQueueName, validateQueueProperties, type QueueProperties } from './queue-properties.js';

export const MAX_QUEUES = 10_000;

export class Namespace implements QueueDirectory, RuleSource {
  private readonly queues = new Map<string, QueueEntity>();
  /**
   * Emits 'queueDeleted' (QueueEntity) so that open links can be detached. Every connection listens, and
   * a namespace takes thousands of them, so there is no listener limit to warn about.
   */
  readonly events = new EventEmitter().setMaxListeners(0);
  readonly createdAt = new Date();
  /** What the broker did, by identity and queue (the benchmarks read it). */
  readonly stats = new BrokerStats();

  constructor(
    readonly name: string,
    private readonly rules: AuthorizationRule[],
    private readonly storeFactory: MessageStoreFactory = () => new InMemoryMessageStore(),
  ) {}

  namespaceRules(): readonly AuthorizationRule[] {
    return this.rules;
  }

  entityRules(name: string): readonly AuthorizationRule[] | undefined {
    return this.queue(name)?.properties.authorizationRules;
  }

  queue(name: string): QueueEntity | undefined {
    return this.queues.get(name.toLowerCase());
  }

  /** The queue, or MessagingEntityNotFound (or, for a subscription's path, that topics are not emulated). */
  requireQueue(name: string): QueueEntity {
    const queue = this.queue(name);
    if (queue) return queue;
    const kind = topicPathKind(name);
    throw kind ? topicsNotEmulated(kind, this.name) : entityNotFound(name);
  }

  listQueues(): QueueEntity[] {
    return [...this.queues.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  createQueue(name: string, properties: QueueProperties): QueueEntity {
    if (!isValidQueueName(name)) {
      throw new BrokerError(Condition.argumentError, `'${name}' is not a valid queue name.`);
    }
    if (this.queues.has(name.toLowerCase())) {
      throw new BrokerError(Condition.notAllowed, `The messaging entity '${name}' already exists.`);
    }
    if (this.queues.size >= MAX_QUEUES) {
      throw new BrokerError(
        Condition.resourceLimitExceeded,
        `The namespace already has ${MAX_QUEUES} queues.`,
      );
    }
    validateQueueProperties(properties);
    this.validateForwarding(name, properties);
    const queue = new QueueEntity(name, properties, this.storeFactory, this);
    this.queues.set(name.toLowerCase(), queue);
    return queue;
  }

  /**
   * Replace a queue's description. Like Service Bus, `requiresSession` and
   * `requiresDuplicateDetection` cannot change after creation.
   */
  updateQueue(name: string, properties: QueueProperties): QueueEntity {
    const queue = this.requireQueue(name);
    if (properties.requiresSession !== queue.properties.requiresSession) {
      throw new BrokerError(
        Condition.argumentError,
        'RequiresSession cannot be changed on an existing queue.',
      );
    }
    if (properties.requiresDuplicateDetection !== queue.properties.requiresDuplicateDetection) {
      throw new BrokerError(
        Condition.argumentError,
        'RequiresDuplicateDetection cannot be changed on an existing queue.',
      );
    }
    validateQueueProperties(properties);
    this.validateForwarding(name, properties);
    queue.properties = properties;
    queue.updatedAt = new Date();
    queue.main.dispatch();
    return queue;
  }

  /** Forwarding targets must exist and differ from the queue itself, as Service Bus requires. */
  private validateForwarding(name: string, properties: QueueProperties): void {
    for (const target of [properties.forwardTo, properties.forwardDeadLetteredMessagesTo]) {
      if (target === undefined) continue;
      if (target.toLowerCase() === name.toLowerCase()) {
        throw new BrokerError(Condition.argumentError, `The queue '${name}' cannot forward to itself.`);
      }
      if (!this.queue(target)) {
        throw new BrokerError(
          Condition.argumentError,
          `The forwarding destination '${target}' does not exist.`,
        );
      }
    }
  }

  deleteQueue(name: string): void {
    const queue = this.requireQueue(name);
    this.queues.delete(name.toLowerCase());
    queue.close();
    this.events.emit('queueDeleted', queue);
  }

  close(): void {
    for (const queue of this.queues.values()) queue.close();
  }
}
