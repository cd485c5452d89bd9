import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { jsonApi, unique } from '../support/api';
import { readJsonl, TERMINAL, waitForBatch } from '../support/batches';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const MODEL = 'sim-llama-3.1-8b-instruct';
const REQUESTS = 5000;
const PRODUCERS = 4;
const KILLS = 3;

/**
 * Stream-to-batch under crashes: the worker process (orchestrator and GPU roles, so the dispatcher
 * and its dispatch activity) is killed with SIGKILL again and again while producers post requests one
 * per call to a separate API process. Nothing may be lost, doubled, or put in two batches.
 */
describe('stream-to-batch through repeated kill -9 of the worker', () => {
  const stack = testStack();
  const key = unique('sk-queue');
  let dataDir: string;
  let api: ServiceProcess;
  let worker: ServiceProcess | undefined;
  const queueEnv = { QUEUE_MODEL: MODEL, QUEUE_THRESHOLD: '200', QUEUE_TIME_THRESHOLD_SECONDS: '1', QUEUE_TIME_INTERVAL_SECONDS: '0.5' };
  const common = () => ({
    DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    DATABASE_URL: stack.databaseUrl,
    API_KEYS: `${key}:${unique('producer')}`,
    ...queueEnv,
  });
  const startWorker = () =>
    startServiceProcess({ ...common(), VLLM_BASE_URL: stack.simulatorUrl, CHUNK_SIZE: '50', CHUNK_HEARTBEAT_TIMEOUT_MS: '3000' }, { entry: 'worker' });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-queue-'));
    // The worker first: its orchestrator publishes the QUEUE_* this API is given too (README: Configuration).
    worker = await startWorker();
    api = await startServiceProcess(common(), { entry: 'api' });
  });
  afterAll(async () => {
    for (const process of [worker, api]) if (process) expect(await process.stop()).toBe(0);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const call = (method: string, route: string, body?: unknown) => jsonApi(api.apiUrl, key)(method, route, body);

  test(`${REQUESTS} requests posted one per call while the worker is killed ${KILLS} times: each completed once, in exactly one batch`, async () => {
    const ids = new Map<string, string>(); // request id → custom_id
    let next = 0;
    const producer = async () => {
      while (next < REQUESTS) {
        const n = next++;
        const posted = await call('POST', '/requests', { custom_id: `c-${n}`, body: { messages: [{ role: 'user', content: `request ${n}` }], max_tokens: 4 } });
        expect(posted.status).toBe(200);
        ids.set((posted.body.request_ids as string[])[0]!, `c-${n}`);
      }
    };
    const producing = Promise.all(Array.from({ length: PRODUCERS }, producer));

    // Kill the worker whenever a dispatch has just happened or is due, and bring it back.
    let kills = 0;
    while (kills < KILLS) {
      const dispatched = (await call('GET', '/queues/default')).body.batches_dispatched as number;
      await waitFor(async () => ((await call('GET', '/queues/default')).body.batches_dispatched as number) > dispatched, {
        timeoutMs: 60_000,
        intervalMs: 20,
        what: 'the next dispatch',
      });
      await worker!.kill();
      kills++;
      worker = await startWorker();
    }
    await producing;
    expect(ids.size).toBe(REQUESTS);

    const finished = await waitFor(
      async () => {
        const queue = (await call('GET', '/queues/default')).body;
        if (queue.pending_requests !== 0 || queue.batches_in_flight !== 0) return false;
        return queue;
      },
      { timeoutMs: 240_000, intervalMs: 500, what: 'the queue to drain and its batches to end' },
    );
    expect(finished.batches_dispatched).toBeGreaterThanOrEqual(REQUESTS / 200);

    // Every request completed, and each batch's input holds it exactly once across all batches.
    const batchOf = new Map<string, string>();
    const statuses = new Map<string, number>();
    for (let after: string | undefined; ;) {
      const page = (await call('GET', `/requests?order=asc&limit=1000${after ? `&after=${after}` : ''}`)).body;
      for (const r of page.data as Array<{ id: string; status: string; batch_id: string }>) {
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        batchOf.set(r.id, r.batch_id);
      }
      if (!page.has_more) break;
      after = page.last_id as string;
    }
    expect(Object.fromEntries(statuses)).toEqual({ completed: REQUESTS });
    expect([...batchOf.keys()].sort()).toEqual([...ids.keys()].sort());

    const client = new OpenAI({ baseURL: api.apiUrl, apiKey: key, maxRetries: 0 });
    const seen = new Map<string, number>();
    for (const batchId of new Set(batchOf.values())) {
      const batch = await client.batches.retrieve(batchId);
      expect(batch.status).toBe('completed');
      const input = (await (await client.files.content(batch.input_file_id)).text()).trim().split('\n');
      const inputIds = input.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
      expect(new Set(inputIds).size).toBe(inputIds.length);
      const output = await readJsonl(client, batch.output_file_id);
      expect(output.map((line) => line.custom_id)).toEqual(inputIds);
      for (const id of inputIds) seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    expect(seen.size).toBe(REQUESTS);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
  }, 600_000);

  test('producers, endpoint changes and requests for an unserved model on one queue while the worker is killed: each valid request runs once, none waits for the unserved', async () => {
    const queue = 'mixed';
    expect((await call('POST', '/queues', { name: queue, queue_threshold: 50, time_threshold: 1, time_interval: 0.3 })).status).toBe(200);
    const valid = new Set<string>();
    const unserved: string[] = [];
    let next = 0;
    const total = 600;
    const producer = async () => {
      while (next < total) {
        const n = next++;
        if (n % 50 === 7) {
          const posted = await call('POST', `/requests?queue=${queue}`, {
            custom_id: `typo-${n}`,
            body: { model: 'no-such-model', prompt: 'x', messages: [{ role: 'user', content: 'x' }] },
          });
          expect(posted.status).toBe(200);
          unserved.push((posted.body.request_ids as string[])[0]!);
          continue;
        }
        // A string is a user message on a chat queue and a prompt on a completions queue: valid either way.
        // (The unserved ones carry both fields for the same reason.)
        const posted = await call('POST', `/requests?queue=${queue}`, { data: [`request ${n}`] });
        expect(posted.status).toBe(200);
        valid.add((posted.body.request_ids as string[])[0]!);
      }
    };
    const endpoints = ['/v1/completions', '/v1/chat/completions'];
    const flipping = (async () => {
      for (let flip = 0; next < total; flip++) {
        expect((await call('POST', `/queues/${queue}`, { endpoint: endpoints[flip % 2], request_kwargs: { max_tokens: 2 + (flip % 3) } })).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    const producing = Promise.all([producer(), producer(), producer(), flipping]);
    for (let kills = 0; kills < 2; kills++) {
      const dispatched = (await call('GET', `/queues/${queue}`)).body.batches_dispatched as number;
      await waitFor(async () => ((await call('GET', `/queues/${queue}`)).body.batches_dispatched as number) > dispatched, {
        timeoutMs: 60_000,
        intervalMs: 20,
        what: 'the next dispatch',
      });
      await worker!.kill();
      worker = await startWorker();
    }
    await producing;

    const ended = await waitFor(
      async () => {
        const all = await Promise.all([...valid].map(async (id) => (await call('GET', `/requests/${id}`)).body));
        return all.every((r) => r.status === 'completed') && all;
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: 'every valid request to complete' },
    );
    // Each batch holds one endpoint, and every valid request is in exactly one batch input, once.
    const client = new OpenAI({ baseURL: api.apiUrl, apiKey: key, maxRetries: 0 });
    const seen = new Map<string, number>();
    for (const batchId of new Set(ended.map((r) => r.batch_id as string))) {
      // A request completes with its batch's results, a moment before the batch itself ends.
      const batch = await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status), 60_000);
      expect(batch.status).toBe('completed');
      const lines = (await (await client.files.content(batch.input_file_id)).text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { custom_id: string; url: string });
      expect(new Set(lines.map((line) => line.url))).toEqual(new Set([batch.endpoint]));
      for (const line of lines) seen.set(line.custom_id, (seen.get(line.custom_id) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual([...valid].sort());
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    // The unserved requests held only themselves: still queued, then cancelled.
    for (const id of unserved) expect((await call('POST', `/requests/${id}/cancel`, {})).body).toMatchObject({ status: 'cancelled' });
  }, 600_000);

  test('a worker killed in the middle of a dispatch: the dispatch is retried within its heartbeat timeout, and its request runs once', async () => {
    // Hold batch inserts so the next dispatch is caught half done, inside its transaction.
    const admin = new pg.Client({ connectionString: stack.databaseUrl });
    await admin.connect();
    try {
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE batches IN SHARE ROW EXCLUSIVE MODE');
      const posted = await call('POST', '/requests', { custom_id: 'mid-dispatch', body: { messages: [{ role: 'user', content: 'caught' }], max_tokens: 4 } });
      expect(posted.status).toBe(200);
      const requestId = (posted.body.request_ids as string[])[0]!;
      // (pg_locks is live; pg_stat_activity would be a snapshot taken once in this transaction.)
      await waitFor(async () => (await admin.query(`SELECT 1 FROM pg_locks WHERE relation = 'batches'::regclass AND NOT granted`)).rowCount! >= 1, {
        timeoutMs: 30_000,
        what: 'the dispatch to wait on its batch insert',
      });
      await worker!.kill();
      worker = await startWorker();
      await admin.query('ROLLBACK');

      // The dead worker's attempt is abandoned after its heartbeat timeout, well before its start-to-close timeout.
      const done = await waitFor(
        async () => {
          const request = (await call('GET', `/requests/${requestId}`)).body;
          return request.status === 'completed' && request;
        },
        { timeoutMs: 120_000, intervalMs: 500, what: 'the caught request to complete' },
      );
      const batch = (await call('GET', `/batches/${done.batch_id as string}`)).body;
      expect(batch.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    } finally {
      await admin.end();
    }
  }, 300_000);
});
