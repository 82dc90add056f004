/**
 * W3C trace context: the caller's `traceparent` travels from the HTTP call into the request message
 * and back in the agent's reply, so that telemetry joins them. One parser for every place that reads
 * it (HTTP header, message property), since each of them reads text a caller controls.
 */
/** Version 00, the only version defined. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ZEROS = /^0+$/;

/** `value` when it is a well-formed traceparent (version 00, ids not all zeros), else undefined. */
export function traceparentOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = TRACEPARENT.exec(value);
  if (!match || ZEROS.test(match[1] ?? '') || ZEROS.test(match[2] ?? '')) return undefined;
  return value;
}

/** The trace id of a well-formed traceparent, else undefined. */
export function traceIdOf(value: unknown): string | undefined {
  return traceparentOf(value)?.slice(3, 35);
}
