/** The replies function's work: verify signed replies, record heartbeats (docs/wire.md, docs/state.md). */
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
