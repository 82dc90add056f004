/** The wire contract between cloud and agent (DESIGN.md §5): names, request envelope, replies. */
export * from './names.js';
export * from './errors.js';
export * from './envelope.js';
export * from './replies.js';
export * from './trace.js';
