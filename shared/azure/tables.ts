/** Table storage helpers shared by the stores of the app (tenants, heartbeats, operations, audit, rate limits). */
import type { TableClient } from '@azure/data-tables';

/**
 * Creates a table at most once per store and process, on first use (createTable succeeds when the
 * table exists); concurrent first calls share one request, and a failed creation is tried again on
 * the next call rather than remembered.
 */
export function tableCreator(
  table: TableClient,
  create: () => Promise<unknown> = () => table.createTable(),
): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= create().then(
      () => undefined,
      (error: unknown) => {
        ready = undefined;
        throw error;
      },
    );
    return ready;
  };
}
