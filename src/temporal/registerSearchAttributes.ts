import type { ConnectionLike } from '@temporalio/client';
import { logger } from '../logger';
import { BATCH_SEARCH_ATTRIBUTES } from './searchAttributes';

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD; every app attribute is a keyword. */
const INDEXED_VALUE_TYPE_KEYWORD = 2;

/**
 * Registers the app's search attributes when the namespace lacks them, on a dev server and a real
 * cluster alike. Two processes racing here is harmless: the loser sees them already present.
 */
export async function ensureSearchAttributes(connection: ConnectionLike, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
  await addSearchAttributes(
    connection,
    namespace,
    BATCH_SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name)),
  );
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
