/** The wire contract between cloud and agent (docs/wire.md): names, request envelope, replies. */
export * from './names.js';
export * from './errors.js';
export * from './envelope.js';
export * from './replies.js';
export * from './record-seal.js';
export * from './trace.js';
