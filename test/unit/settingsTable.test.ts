import fs from 'node:fs';
import path from 'node:path';
import { README_TABLES, markers, renderTable, withTable } from '../../src/config/table';

describe("README's settings tables", () => {
  const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

  test.each(README_TABLES.map((table) => [table.name, table] as const))('%s: the one its declarations render (`npm run settings:readme` rewrites it)', (_, table) => {
    const { begin, end } = markers(table);
    expect(readme).toContain(begin);
    expect(readme.slice(readme.indexOf(begin) + begin.length, readme.indexOf(end)).trim()).toBe(renderTable(table));
  });

  test('have a row per setting with its default, its roles and whether its owner publishes it', () => {
    const [service, cluster] = README_TABLES.map(renderTable);
    expect(service!.split('\n')).toHaveLength(2 + Object.keys(README_TABLES[0]!.catalogue).length);
    expect(service).toContain('| `CHUNK_SIZE` | `500` | orchestrator | requests per chunk activity |');
    expect(service).toContain('| `QUEUE_THRESHOLD` | `1000` | orchestrator (published) |');
    expect(service).toContain('| `API_KEYS` | — | api |');
    expect(service).toContain('| `WORKER_ROLES` | `orchestrator,inference` | worker |');
    expect(cluster).toContain("| `PORT` | `4080` | the load balancer's port");
  });

  test('are replaced between their markers, the rest of the README kept', () => {
    const table = README_TABLES[0]!;
    const { begin, end } = markers(table);
    expect(withTable(`intro\n${begin}\nold\n${end}\nrest`, table, 'new')).toBe(`intro\n${begin}\nnew\n${end}\nrest`);
    expect(() => withTable('no markers', table, 'new')).toThrow(/markers/);
  });
});
