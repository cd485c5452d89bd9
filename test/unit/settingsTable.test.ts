import fs from 'node:fs';
import path from 'node:path';
import { SETTINGS } from '../../src/config/settings';
import { settingsTable, TABLE_BEGIN, TABLE_END, withSettingsTable } from '../../src/config/table';

describe("README's settings table", () => {
  test('is the one the declarations render (src/config/settings.ts; `npm run settings:readme` rewrites it)', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const inReadme = readme.slice(readme.indexOf(TABLE_BEGIN) + TABLE_BEGIN.length, readme.indexOf(TABLE_END)).trim();
    expect(inReadme).toBe(settingsTable(SETTINGS));
  });

  test('has a row per setting with its default, its roles and whether its owner publishes it', () => {
    const table = settingsTable(SETTINGS);
    expect(table.split('\n')).toHaveLength(2 + Object.keys(SETTINGS).length);
    expect(table).toContain('| `CHUNK_SIZE` | `500` | orchestrator | requests per chunk activity |');
    expect(table).toContain('| `QUEUE_THRESHOLD` | `1000` | orchestrator (published) |');
    expect(table).toContain('| `API_KEYS` | — | api |');
    expect(table).toContain('| `WORKER_ROLES` | `orchestrator,inference` | worker |');
  });

  test('is replaced between its markers, the rest of the README kept', () => {
    expect(withSettingsTable(`intro\n${TABLE_BEGIN}\nold\n${TABLE_END}\nrest`, 'new')).toBe(`intro\n${TABLE_BEGIN}\nnew\n${TABLE_END}\nrest`);
    expect(() => withSettingsTable('no markers', 'new')).toThrow(/markers/);
  });
});
