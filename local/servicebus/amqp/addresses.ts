/** Link addresses as the SDK sends them: `q`, `q/$DeadLetterQueue`, `q/$management`, `$cbs`. */
import { DEAD_LETTER_SUFFIX, TRANSFER_DEAD_LETTER_SUFFIX } from '../entities/queue.js';

const TRANSFER_SEGMENT = '$Transfer';

export const CBS_ADDRESS = '$cbs';
const MANAGEMENT_SUFFIX = '$management';

export interface EntityAddress {
  /** The queue's name. */
  queue: string;
  /** '' for the queue itself, '$DeadLetterQueue' or '$Transfer/$DeadLetterQueue' for a sub-queue. */
  subQueue: string;
  /** Is this the entity's request/response management node? */
  management: boolean;
  /** The path rights are checked on, lower case. */
  path: string;
}

/** Parse an address; undefined for one that names no entity. */
export function parseEntityAddress(address: string | undefined): EntityAddress | undefined {
  if (!address) return undefined;
  const withoutHost = address.replace(/^[a-z]+:\/\/[^/]+/i, '').replace(/^\/+|\/+$/g, '');
  const parts = withoutHost.split('/').filter((part) => part.length > 0);
  let management = false;
  if (parts[parts.length - 1]?.toLowerCase() === MANAGEMENT_SUFFIX.toLowerCase()) {
    management = true;
    parts.pop();
  }
  let subQueue = '';
  if (parts[parts.length - 1]?.toLowerCase() === DEAD_LETTER_SUFFIX.toLowerCase()) {
    subQueue = DEAD_LETTER_SUFFIX;
    parts.pop();
    if (parts[parts.length - 1]?.toLowerCase() === TRANSFER_SEGMENT.toLowerCase()) {
      subQueue = TRANSFER_DEAD_LETTER_SUFFIX;
      parts.pop();
    }
  }
  const queue = parts.join('/');
  if (!queue || queue.startsWith('$')) return undefined;
  return { queue, subQueue, management, path: withoutHost.toLowerCase() };
}
