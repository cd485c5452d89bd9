import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import pg from 'pg';
import { UPLOAD_SWEEP_SCHEDULE_ID } from '../../src/temporal/schedules';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const INTERVAL_SECONDS = 2;
// As short as the API allows: no shorter than the time it gives a client to send its headers (HTTP_HEADERS_TIMEOUT_MS).
const REQUEST_TIMEOUT_MS = 20_000;
/** The API's longest request and a minute's margin: older, an upload cannot still be running. */
const ABANDONED_AFTER_MS = REQUEST_TIMEOUT_MS + 60_000;

/**
 * The upload sweep is a Temporal Schedule, as every periodic job: the API sets it up (how long an
 * upload may last is the API's setting), an orchestrator runs it. API and orchestrator run in
 * processes of their own, as in a split deployment, and nothing but the Schedule deletes uploads.
 */
describe('the upload sweep Schedule', () => {
  let api: ServiceUnderTest;
  let orchestrator: ServiceProcess;
  let db: pg.Client;
  let temporal: Client;
  let orchestratorDir: string;
  const tenant = `tenant-upload-sweep-${crypto.randomUUID()}`;

  beforeAll(async () => {
    const stack = testStack();
    orchestratorDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-sweep-orchestrator-'));
    orchestrator = await startServiceProcess(
      { DATA_DIR: orchestratorDir, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, WORKER_ROLES: 'orchestrator' },
      { entry: 'worker' },
    );
    api = await startServiceUnderTest({
      entry: 'api',
      env: { UPLOAD_SWEEP_INTERVAL_SECONDS: String(INTERVAL_SECONDS), HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) },
    });
    db = new pg.Client({ connectionString: stack.databaseUrl });
    await db.connect();
    temporal = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  });

  afterAll(async () => {
    const exitCodes = { api: await api?.stop(), orchestrator: await orchestrator?.stop() };
    if (orchestratorDir) fs.rmSync(orchestratorDir, { recursive: true, force: true });
    await db?.query(`DELETE FROM files WHERE tenant_id = $1`, [tenant]);
    await db?.end();
    // Its short interval and age are this test's: the next API to start sets the Schedule up again with its own.
    await temporal?.schedule
      .getHandle(UPLOAD_SWEEP_SCHEDULE_ID)
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
    await temporal?.connection.close();
    expect(exitCodes).toEqual({ api: 0, orchestrator: 0 });
  });

  /** An upload a crash cut short, started `ageMs` ago: its row, still `uploading`, and one part. */
  async function interruptedUpload(ageMs: number): Promise<string> {
    const id = `file-sweep-${crypto.randomUUID()}`;
    await db.query(
      `INSERT INTO files (id, tenant_id, purpose, filename, bytes, status, created_at)
       VALUES ($1, $2, 'batch', 'cut-short.jsonl', 0, 'uploading', now() - $3 * interval '1 millisecond')`,
      [id, tenant, ageMs],
    );
    await db.query(`INSERT INTO file_parts (file_id, part_no, data) VALUES ($1, 0, $2)`, [id, Buffer.from('{"custom_id":"a"}\n')]);
    return id;
  }

  /** What is left of the upload: its row and its parts. */
  const rowsOf = async (fileId: string) =>
    Number(
      (await db.query<{ n: string }>(`SELECT (SELECT count(*) FROM files WHERE id = $1) + (SELECT count(*) FROM file_parts WHERE file_id = $1) AS n`, [fileId])).rows[0]!
        .n,
    );

  test('deletes an upload older than the API allows within a few intervals, and leaves one that may still be running', async () => {
    const abandoned = await interruptedUpload(ABANDONED_AFTER_MS + 60_000);
    const running = await interruptedUpload(0);

    await waitFor(async () => (await rowsOf(abandoned)) === 0, { timeoutMs: 15 * INTERVAL_SECONDS * 1000, what: 'the abandoned upload to be swept' });
    expect(await rowsOf(running)).toBe(2);

    const schedule = await temporal.schedule.getHandle(UPLOAD_SWEEP_SCHEDULE_ID).describe();
    expect(schedule.spec.intervals).toMatchObject([{ every: INTERVAL_SECONDS * 1000 }]);
    expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: 'uploadSweepWorkflow', args: [{ abandonedAfterMs: ABANDONED_AFTER_MS }] });
    expect(schedule.info.recentActions.length).toBeGreaterThan(0);
  });
});
