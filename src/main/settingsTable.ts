import fs from 'node:fs';
import path from 'node:path';
import { README_TABLES, renderTable, withTable } from '../config/table';

/** `npm run settings:readme`: writes README.md's settings tables from their declarations. */
const readme = path.resolve(__dirname, '../../README.md');
fs.writeFileSync(
  readme,
  README_TABLES.reduce((text, table) => withTable(text, table, renderTable(table)), fs.readFileSync(readme, 'utf8')),
);
process.stdout.write(`wrote the settings tables of ${readme}\n`);
