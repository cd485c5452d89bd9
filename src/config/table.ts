import { CLUSTER_SETTINGS } from '../cluster/config';
import type { Catalogue, Declaration } from './declare';
import { SETTINGS } from './settings';

/**
 * README's settings tables, written from the declarations: `npm run settings:readme` puts each
 * between its markers, and test/unit/settingsTable.test.ts fails when README.md's differs.
 */
export type ReadmeTable = Readonly<{ name: string; source: string; catalogue: Catalogue; readBy: boolean }>;

export const README_TABLES: readonly ReadmeTable[] = [
  { name: 'settings', source: 'src/config/settings.ts', catalogue: SETTINGS, readBy: true },
  // One program, one reader: no "read by" column.
  { name: 'cluster settings', source: 'src/cluster/config.ts', catalogue: CLUSTER_SETTINGS, readBy: false },
];

export function renderTable(table: ReadmeTable): string {
  const header = table.readBy ? ['variable', 'default', 'read by', 'meaning'] : ['variable', 'default', 'meaning'];
  const rows = Object.entries(table.catalogue).map(([name, d]) => [`\`${name}\``, defaultOf(d), ...(table.readBy ? [readersOf(d)] : []), d.doc]);
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export const markers = (table: ReadmeTable) => ({
  begin: `<!-- ${table.name} table: generated from ${table.source} by \`npm run settings:readme\`; edit there -->`,
  end: `<!-- end of ${table.name} table -->`,
});

/** `readme` with the text between `table`'s markers replaced by `text`. */
export function withTable(readme: string, table: ReadmeTable, text: string): string {
  const { begin, end } = markers(table);
  const from = readme.indexOf(begin);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md lacks the ${table.name} table's markers (${begin} … ${end})`);
  return `${readme.slice(0, from + begin.length)}\n${text}\n${readme.slice(to)}`;
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
