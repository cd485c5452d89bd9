import fs from 'node:fs';
import path from 'node:path';
import { pendingMigrations } from '../../src/db/migrate';
import { BATCH_STATUSES, BATCH_TRANSITIONS, FINALIZE_OUTCOMES, INITIAL_STATUS, TERMINAL_STATUSES, hasRun, isTerminal } from '../../src/states/batch';
import { FILE_STATUSES } from '../../src/states/file';
import { IDEMPOTENT_OPERATIONS } from '../../src/states/idempotency';
import { KEY_SCOPES } from '../../src/states/apiKey';
import { STORED_REQUEST_STATUSES } from '../../src/states/request';
import { DELIVERY_STATUSES, EVENT_STATUS, terminalEvent, WEBHOOK_EVENT_TYPES } from '../../src/states/webhook';

const MIGRATIONS = path.resolve(__dirname, '../../migrations');

/** Every `ADD CONSTRAINT name CHECK (column IN ('a', 'b'))` of every migration, by constraint name. */
function checkLists(): Map<string, string[]> {
  const lists = new Map<string, string[]>();
  for (const file of fs.readdirSync(MIGRATIONS).filter((f) => f.endsWith('.sql'))) {
    const sql = fs.readFileSync(path.join(MIGRATIONS, file), 'utf8');
    for (const [, name, values] of sql.matchAll(/ADD CONSTRAINT (\w+)\s+CHECK \(\w+ IN \(([^)]*)\)\)/g)) {
      lists.set(
        name!,
        [...values!.matchAll(/'([^']*)'/g)].map((m) => m[1]!),
      );
    }
  }
  return lists;
}

describe('states defined once', () => {
  test('PostgreSQL checks exactly the statuses and event types TypeScript defines', () => {
    const lists = checkLists();
    expect(lists.get('batches_status_check')).toEqual([...BATCH_STATUSES]);
    expect(lists.get('batches_final_status_check')).toEqual([...FINALIZE_OUTCOMES]);
    expect(lists.get('files_status_check')).toEqual([...FILE_STATUSES]);
    expect(lists.get('webhook_deliveries_status_check')).toEqual([...DELIVERY_STATUSES]);
    expect(lists.get('webhook_deliveries_event_type_check')).toEqual([...WEBHOOK_EVENT_TYPES]);
    expect(lists.get('queued_requests_status_check')).toEqual([...STORED_REQUEST_STATUSES]);
    expect(lists.get('idempotency_keys_operation_check')).toEqual([...IDEMPOTENT_OPERATIONS]);
    expect(lists.get('api_keys_scope_check')).toEqual([...KEY_SCOPES]);
  });

  test('every status but the initial one is reached by a transition, and nothing leaves a terminal status', () => {
    const targets = Object.keys(BATCH_TRANSITIONS).sort();
    expect(targets).toEqual(BATCH_STATUSES.filter((s) => s !== INITIAL_STATUS).sort());
    for (const sources of Object.values(BATCH_TRANSITIONS)) {
      expect(sources.filter(isTerminal)).toEqual([]);
    }
    // Every non-terminal status can still reach a terminal one: no batch is left non-final forever.
    for (const status of BATCH_STATUSES.filter((s) => !isTerminal(s))) {
      const next = Object.entries(BATCH_TRANSITIONS)
        .filter(([, sources]) => sources.includes(status))
        .map(([to]) => to);
      expect(next.length).toBeGreaterThan(0);
    }
  });

  test('each terminal status has its event, and that event announces it', () => {
    for (const status of TERMINAL_STATUSES) expect(EVENT_STATUS[terminalEvent(status)]).toBe(status);
  });
});

describe('pendingMigrations', () => {
  const files = ['001_initial.sql', '003_api_keys.sql', '004_webhooks.sql'];

  test('applies what is missing, in numeric order', () => {
    expect(pendingMigrations(files, [])).toEqual([
      { file: '001_initial.sql', version: 1 },
      { file: '003_api_keys.sql', version: 3 },
      { file: '004_webhooks.sql', version: 4 },
    ]);
    expect(pendingMigrations([...files, '010_later.sql'], [1, 3, 4])).toEqual([{ file: '010_later.sql', version: 10 }]);
  });

  test('refuses one numbered below the newest applied: fresh and upgraded databases would differ', () => {
    expect(() => pendingMigrations([...files, '002_forgotten.sql'], [1, 3, 4])).toThrow(/002_forgotten.sql is numbered below 4/);
  });
});

describe('hasRun: whether the results a batch stores are its own yet', () => {
  const at = new Date('2026-12-08T00:00:00Z');
  test.each([
    ['validating', null, false],
    ['failed', null, false],
    ['cancelled', null, false],
    ['expired', null, false],
    ['in_progress', at, true],
    ['failed', at, true],
    ['cancelled', at, true],
    // Only reached through in_progress: a row written directly (an import, a test) has run all the same.
    ['completed', null, true],
    ['finalizing', null, true],
  ] as const)('%s with in_progress_at %s: %s', (status, inProgressAt, ran) => {
    expect(hasRun({ status, in_progress_at: inProgressAt })).toBe(ran);
  });
});
