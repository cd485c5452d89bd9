import type { Catalogue, Declaration } from './declare';

/**
 * README's settings table, written from the declarations: `npm run settings:readme` puts it between
 * its markers, and test/unit/settingsTable.test.ts fails when README.md's differs.
 */
export function settingsTable(catalogue: Catalogue): string {
  const rows = Object.entries(catalogue).map(([name, d]) => `| \`${name}\` | ${defaultOf(d)} | ${readersOf(d)} | ${d.doc} |`);
  return ['| variable | default | read by | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export const TABLE_BEGIN = '<!-- settings table: generated from src/config/settings.ts by `npm run settings:readme`; edit there -->';
export const TABLE_END = '<!-- end of settings table -->';

/** `readme` with the text between the markers replaced by `table`. */
export function withSettingsTable(readme: string, table: string): string {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`README.md lacks the settings table's markers (${TABLE_BEGIN} … ${TABLE_END})`);
  return `${readme.slice(0, begin + TABLE_BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}

/** The declared default, else the value the setting parses to when unset. */
function defaultOf(d: Declaration): string {
  if (d.defaultDoc !== undefined) return d.defaultDoc;
  const value: unknown = d.schema.parse(undefined);
  if (value === undefined || (Array.isArray(value) && value.length === 0) || (value instanceof Map && value.size === 0)) return '—';
  if (Array.isArray(value)) return `\`${value.join(',')}\``;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return `\`${String(value)}\``;
  throw new Error(`a default of type ${typeof value} needs a defaultDoc: ${d.doc}`);
}

function readersOf(d: Declaration): string {
  return d.roles.join(', ') + (d.published ? ' (published)' : '');
}
