import { invalidRequest } from './errors';

/**
 * OpenAI's cursor list object. `items` is fetched with one more than `limit`: its presence is what
 * `has_more` reports, so no count query is needed.
 */
export function listObject<Item extends { id: string }>(items: Item[], limit: number) {
  const data = items.slice(0, limit);
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: items.length > limit,
  };
}

/** An `after` cursor that names nothing the tenant owns: its position cannot be known. */
export const unknownCursor = (what: string, id: string) => invalidRequest(`Invalid 'after': no such ${what}: '${id}'`, 'after', 'invalid_value');
