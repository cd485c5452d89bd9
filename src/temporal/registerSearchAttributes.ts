import type { ConnectionLike } from '@temporalio/client';
import { logger } from '../logger';
import { BATCH_SEARCH_ATTRIBUTES } from './searchAttributes';

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD; every app attribute is a keyword. */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

/** How long a new search attribute may take to be usable: a server's namespace cache refreshes every 10 s by default. */
const SEARCHABLE_TIMEOUT_MS = 60_000;

/**
 * Registers the app's search attributes when the namespace lacks them, on a dev server and a real
 * cluster alike, and returns once the server accepts them. Two processes racing here is harmless:
 * the loser sees them already present.
 */
export async function ensureSearchAttributes(connection: ConnectionLike, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
  const missing = BATCH_SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return;
  await addSearchAttributes(connection, namespace, missing);
  await untilSearchable(connection, namespace, missing);
}

/**
 * On a server with SQL visibility (a real cluster on PostgreSQL, the dev server's SQLite), a search
 * attribute is an alias stored with the namespace, which the frontend knows only once its namespace
 * cache refreshes: until then a workflow started with it fails ("not a valid search attribute"), and
 * so would the first batches created after start-up. A query naming every new attribute succeeds
 * exactly when the frontend knows them.
 */
async function untilSearchable(connection: ConnectionLike, namespace: string, keys: readonly { name: string }[]): Promise<void> {
  const query = keys.map((key) => `${key.name} = ''`).join(' AND ');
  const deadline = Date.now() + SEARCHABLE_TIMEOUT_MS;
  for (;;) {
    try {
      await connection.workflowService.countWorkflowExecutions({ namespace, query });
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`search attributes ${keys.map((k) => k.name).join(', ')} still not usable after ${SEARCHABLE_TIMEOUT_MS / 1000} s: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/**
 * Adds `keys` (the app's, all keywords) without asking what the namespace has; an attribute already
 * there is not an error. For a server that cannot list them, such as Temporal's time-skipping test server.
 */
export async function addSearchAttributes(connection: ConnectionLike, namespace: string, keys: readonly { name: string }[] = BATCH_SEARCH_ATTRIBUTES): Promise<void> {
  if (keys.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(keys.map((key) => [key.name, INDEXED_VALUE_TYPE_KEYWORD])),
    });
    logger.info({ attributes: keys.map((k) => k.name) }, 'registered Temporal search attributes');
  } catch (err) {
    if (!/already exists/i.test((err as Error).message)) throw err;
  }
}
