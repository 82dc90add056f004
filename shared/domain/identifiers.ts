/** Shapes of identifiers every part checks. */

/** An operation id (also a rollover id): a UUID in lower case, as the cloud makes them. */
export const OPERATION_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An on-premises security identifier (SID) as AD writes it, e.g. S-1-5-21-…-1104. */
export const SID_PATTERN = /^S-1-\d{1,15}(-\d{1,10}){1,15}$/;

/** Any UUID, in either case (Entra ids such as `oid`, instrumentation keys). */
export const UUID_PATTERN = new RegExp(OPERATION_ID_PATTERN.source, 'i');

/**
 * Seconds a caller is told to wait (Retry-After) after a dependency fault or a concurrent change:
 * long enough for a blip to pass, short enough that a person retrying does not give up.
 */
export const RETRY_AFTER_SECONDS = 5;
