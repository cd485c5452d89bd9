import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { unique } from '../support/api';
import { chatLine, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const MODEL = 'sim-llama-3.1-8b-instruct';
const CHUNK_SIZE = 50;
const CHUNKS = 20;
/** The chunk finalize is caught at: those before it are written when the worker dies. */
const CAUGHT_AT = 8;

/**
 * Finalize is resumable: a worker killed with SIGKILL in the middle of writing a batch's result
 * files leaves the chunks it wrote in place, and the retried activity writes only the rest.
 */
describe('kill -9 of the worker mid-finalize', () => {
  const stack = testStack();
  const key = unique('sk-finalize');
  let dataDir: string;
  let api: ServiceProcess;
  let worker: ServiceProcess | undefined;
  const common = () => ({ DATA_DIR: dataDir, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, API_KEYS: `${key}:${unique('finalize')}` });
  const startWorker = () => startServiceProcess({ ...common(), VLLM_BASE_URL: stack.simulatorUrl, CHUNK_SIZE: String(CHUNK_SIZE) }, { entry: 'worker' });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-finalize-'));
    api = await startServiceProcess(common(), { entry: 'api' });
    worker = await startWorker();
  });
  afterAll(async () => {
    for (const process of [worker, api]) if (process) expect(await process.stop()).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the retried finalize keeps the chunks written before the kill and writes only the rest: every custom_id once, in order', async () => {
    const client = new OpenAI({ baseURL: api.apiUrl, apiKey: key, maxRetries: 0 });
    const customIds = Array.from({ length: CHUNK_SIZE * CHUNKS }, (_, i) => `fin-${i}`);
    // Never answered by the simulator: no chunk finishes, so at the cancel finalize writes every chunk itself.
    const input = await uploadJsonl(
      client,
      customIds.map((id) => chatLine(id, MODEL, `${id} [[sim:hang]]`)),
    );
    const batch = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForBatch(client, batch.id, (b) => b.status === 'in_progress', 60_000);

    const admin = new pg.Client({ connectionString: stack.databaseUrl });
    await admin.connect();
    admin.on('error', () => undefined);
    const written = async () =>
      (await admin.query<{ chunk_no: number; written_at: Date }>(`SELECT chunk_no, written_at FROM batch_chunk_files WHERE batch_id = $1 ORDER BY chunk_no`, [batch.id]))
        .rows;
    const holder = new pg.Client({ connectionString: stack.databaseUrl });
    await holder.connect();
    holder.on('error', () => undefined);
    let killedAt: Date;
    try {
      // An uncommitted claim of one chunk: finalize, writing chunks in order, waits on it there.
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO batch_chunk_files (batch_id, chunk_no) VALUES ($1, $2)`, [batch.id, CAUGHT_AT]);
      await client.batches.cancel(batch.id);
      await waitFor(async () => (await written()).length === CAUGHT_AT && (await admin.query(`SELECT 1 FROM pg_locks WHERE NOT granted`)).rowCount! >= 1, {
        timeoutMs: 60_000,
        what: `finalize to write chunks 0-${CAUGHT_AT - 1} and wait on chunk ${CAUGHT_AT}`,
      });
      await worker!.kill();
      killedAt = new Date();
      worker = await startWorker();
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    const before = await written();

    // The dead worker's attempt is retried after its heartbeat timeout.
    const done = await waitForBatch(client, batch.id, (b) => TERMINAL.includes(b.status), 120_000);
    expect(done.status).toBe('cancelled');
    expect(done.request_counts).toEqual({ total: customIds.length, completed: 0, failed: customIds.length });
    expect(done.output_file_id).toBeNull();
    const errors = await readJsonl(client, done.error_file_id);
    expect(errors.map((l) => [l.custom_id, l.error?.code])).toEqual(customIds.map((id) => [id, 'batch_cancelled']));

    // What was written before the kill stayed as it was; the retry wrote the other chunks after it.
    const after = await written();
    expect(after.map((c) => c.chunk_no)).toEqual(Array.from({ length: CHUNKS }, (_, i) => i));
    expect(after.slice(0, CAUGHT_AT)).toEqual(before);
    for (const chunk of before) expect(chunk.written_at.getTime()).toBeLessThan(killedAt.getTime());
    for (const chunk of after.slice(CAUGHT_AT)) expect(chunk.written_at.getTime()).toBeGreaterThan(killedAt.getTime());
    await admin.end();
  }, 300_000);
});
