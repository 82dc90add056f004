/**
 * Topics, subscriptions and rules are not emulated (README "What it does"): the product uses queues
 * only. Asking for one gets a refusal that says so, worded after what Service Bus answers a Basic-tier
 * namespace (which has queues only): "Cannot operate on type Topic because the namespace … is using
 * 'Basic' tier", rather than a misleading "not found" or "must be a QueueDescription".
 */
import { BrokerError, Condition } from './errors.js';

export type UnsupportedKind = 'Topic' | 'Subscription' | 'Rule';

export function topicsNotEmulatedMessage(kind: UnsupportedKind, namespace: string): string {
  return `SubCode=40000. Cannot operate on type ${kind} because the namespace '${namespace}' has queues only: the Service Bus emulator does not emulate topics, subscriptions or rules (as a Basic-tier namespace).`;
}

export function topicsNotEmulated(kind: UnsupportedKind, namespace: string): BrokerError {
  return new BrokerError(Condition.notImplemented, topicsNotEmulatedMessage(kind, namespace));
}

/** The kind of a path under a topic (`t/Subscriptions/s`, `t/Subscriptions/s/Rules/r`), if it is one. */
export function topicPathKind(path: string): UnsupportedKind | undefined {
  if (/\/Subscriptions\/[^/]+\/Rules(\/|$)/i.test(path)) return 'Rule';
  if (/\/Subscriptions(\/|$)/i.test(path)) return 'Subscription';
  return undefined;
}
