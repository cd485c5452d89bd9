import { invalidRequest } from './errors';

/**
 * OpenAI's cursor list object. `rows` is fetched with one row more than `limit`: its presence is
 * what `has_more` reports, so no count query is needed.
 */
export function listObject<Row, Item extends { id: string }>(rows: Row[], limit: number, toItem: (row: Row) => Item) {
  const data = rows.slice(0, limit).map(toItem);
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: rows.length > limit,
  };
}

/** An `after` cursor that names nothing the tenant owns: its position cannot be known. */
export const unknownCursor = (what: string, id: string) => invalidRequest(`Invalid 'after': no such ${what}: '${id}'`, 'after', 'invalid_value');
