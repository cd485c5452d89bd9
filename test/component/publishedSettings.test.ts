import { loadSettings } from '../../src/config';
import { ConfigError } from '../../src/config/env';
import { publishedValues, publishSettings, refuseConflicts, SettingsNotPublished } from '../../src/config/published';
import { migrate } from '../../src/db/migrate';
import { createPool, type Db } from '../../src/db/pool';
import { logger } from '../../src/logger';
import { createScratchDatabase } from '../support/api';
import { testStack } from '../support/stack';

/**
 * The orchestrator's published settings (src/config/published.ts) on the real PostgreSQL, in a
 * database of their own: what one test publishes, the services of the others would otherwise read.
 */
describe('published settings', () => {
  let scratch: { url: string; drop(): Promise<void> };
  let db: Db;
  const orchestrator = (env: Record<string, string>) => loadSettings(['orchestrator'], env);

  beforeAll(async () => {
    scratch = await createScratchDatabase(testStack());
    db = createPool(scratch.url, 2);
    await migrate(db);
  });
  afterAll(async () => {
    await db?.end();
    await scratch?.drop();
  });

  test('before any owner started: nothing to read (the API answers 503), nothing to conflict with', async () => {
    await expect(publishedValues(db)).rejects.toThrow(SettingsNotPublished);
    await expect(refuseConflicts(db, { QUEUE_THRESHOLD: 5 })).resolves.toBeUndefined();
  });

  test('read back as the owner parsed them, unset ones unset', async () => {
    await publishSettings(db, orchestrator({ MAX_REQUESTS_PER_BATCH: '7', QUEUE_TIME_INTERVAL_SECONDS: '0.5', QUEUE_COMPLETION_WINDOW: '2h' }));
    const values = await publishedValues(db);
    expect(values).toEqual({
      MAX_REQUESTS_PER_BATCH: 7,
      QUEUE_THRESHOLD: 1000,
      QUEUE_TIME_THRESHOLD_SECONDS: 60,
      QUEUE_TIME_INTERVAL_SECONDS: 0.5,
      QUEUE_COMPLETION_WINDOW: '2h',
    });
    expect([values.DEFAULT_MODEL, values.QUEUE_MODEL, values.QUEUE_MAX_BATCH_SIZE]).toEqual([undefined, undefined, undefined]);
  });

  test("a process given the owner's value starts; one given another is refused, naming both values and the publisher", async () => {
    await expect(refuseConflicts(db, { MAX_REQUESTS_PER_BATCH: 7, QUEUE_TIME_INTERVAL_SECONDS: 0.5, DEFAULT_MODEL: undefined })).resolves.toBeUndefined();
    const refusal = refuseConflicts(db, { MAX_REQUESTS_PER_BATCH: 8, QUEUE_THRESHOLD: 1000, DEFAULT_MODEL: 'mine' });
    await expect(refusal).rejects.toThrow(ConfigError);
    await expect(refusal).rejects.toThrow(
      /^conflicting configuration: MAX_REQUESTS_PER_BATCH=8 here, but the orchestrator \([^)]+ pid \d+, [^)]+\) runs with 7; DEFAULT_MODEL=mine here, but the orchestrator \([^)]+\) runs with it unset\. /,
    );
  });

  test('an owner started with other values replaces them, and warns of each it changed', async () => {
    const restarted = orchestrator({ MAX_REQUESTS_PER_BATCH: '9', QUEUE_TIME_INTERVAL_SECONDS: '0.5', QUEUE_COMPLETION_WINDOW: '2h', QUEUE_MODEL: 'm' });
    // After the parse, which sets the log level: pino replaces its level methods then.
    const warn = jest.spyOn(logger, 'warn');
    try {
      await publishSettings(db, restarted);
      expect(await publishedValues(db)).toMatchObject({ MAX_REQUESTS_PER_BATCH: 9, QUEUE_MODEL: 'm', QUEUE_COMPLETION_WINDOW: '2h' });
      expect(warn.mock.calls.map(([fields]) => fields)).toEqual([
        { setting: 'MAX_REQUESTS_PER_BATCH', from: 7, to: 9 },
        { setting: 'QUEUE_MODEL', from: null, to: 'm' },
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});
