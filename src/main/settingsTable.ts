import fs from 'node:fs';
import path from 'node:path';
import { SETTINGS } from '../config/settings';
import { settingsTable, withSettingsTable } from '../config/table';

/** `npm run settings:readme`: writes README.md's settings table from the declarations (src/config/settings.ts). */
const readme = path.resolve(__dirname, '../../README.md');
fs.writeFileSync(readme, withSettingsTable(fs.readFileSync(readme, 'utf8'), settingsTable(SETTINGS)));
process.stdout.write(`wrote the settings table of ${readme}\n`);
