import type { Queryable } from '../db/pool';

/** `value` is what the owner wrote: a setting's parsed value, a number or a string, null for unset. */
export type PublishedRow = { value: string | number | null; published_by: string; published_at: Date };

/**
 * Sets each setting's published value (JSON; null for unset) in one statement. Returns the previous
 * value of each that changed: every statement of a WITH sees the table as it was before the upsert.
 */
export async function writePublishedSettings(db: Queryable, values: Record<string, unknown>, publishedBy: string): Promise<{ name: string; previous: unknown }[]> {
  const { rows } = await db.query<{ name: string; previous: unknown }>(
    `WITH given AS (SELECT key AS name, value FROM jsonb_each($1::jsonb)),
          previous AS (SELECT p.name, p.value FROM published_settings p JOIN given g USING (name)),
          upserted AS (
            INSERT INTO published_settings (name, value, published_by, published_at)
            SELECT name, value, $2, now() FROM given
            ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, published_by = EXCLUDED.published_by, published_at = EXCLUDED.published_at
            RETURNING name, value)
     SELECT u.name, p.value AS previous FROM upserted u JOIN previous p USING (name) WHERE p.value IS DISTINCT FROM u.value ORDER BY u.name`,
    [JSON.stringify(values), publishedBy],
  );
  return rows;
}

export async function readPublishedSettings(db: Queryable, names: readonly string[]): Promise<Map<string, PublishedRow>> {
  const { rows } = await db.query<PublishedRow & { name: string }>(
    `SELECT name, value, published_by, published_at FROM published_settings WHERE name = ANY($1::text[])`,
    [names],
  );
  return new Map(rows.map(({ name, ...row }) => [name, row]));
}
