import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Built entry points (`npm test` builds them) refuse bad configuration before they connect anywhere. */
describe('start-up with invalid configuration', () => {
  const built = (entry: string) => path.resolve(__dirname, '../../dist/main', entry);

  test.each(['api.js', 'simulator.js'])('an invalid LOG_LEVEL stops %s with one line naming it, no stack', (entry) => {
    const run = spawnSync(process.execPath, [built(entry)], { env: { PATH: process.env.PATH, LOG_LEVEL: 'loud' }, encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^invalid configuration: LOG_LEVEL: /)]);
  });
});
