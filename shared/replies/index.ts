/** The replies function's work: verify signed replies, record heartbeats (DESIGN.md §5, §6). */
export {
  ReplyProcessor,
  replyProcessor,
  type ReplyDisposition,
  type ReplyProcessorOptions,
} from './processor.js';
export {
  SignatureKeys,
  UnusableSignatureKey,
  isTransientKeyFailure,
  SIGNATURE_KEY_CACHE_MS,
} from './signature-keys.js';
