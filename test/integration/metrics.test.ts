import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { chatLine, readJsonl, uploadJsonl, waitForBatch, TERMINAL } from '../support/batches';
import { scrape, type Scrape } from '../support/metrics';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { startServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { startWebhookReceiver, flakyOrDead, type WebhookReceiver } from '../support/webhookReceiver';

const MODEL = 'sim-metrics-model';
const ENDPOINT = '/v1/chat/completions';
const LINES = 30;
const CHUNK_SIZE = 10;
const BAD_REQUESTS = 3; // answered 400 by the backend
const RATE_LIMITED_ONCE = 2; // answered 429 once, then 200

/** What moved between two scrapes of one endpoint. */
const delta = (before: Scrape, after: Scrape) => (name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

/**
 * The production layout's two kinds of endpoint, scraped before, during and after one known batch:
 * the API's GET /metrics (its HTTP requests, and the gauges read from PostgreSQL) and a worker's
 * metrics listener (batch transitions, requests, backend latency and retries, chunk attempts,
 * result flushes, webhook attempts, and the Temporal SDK's own worker metrics).
 */
describe('Prometheus metrics', () => {
  const stack = testStack();
  let simulator: RunningSimulator;
  let receiver: WebhookReceiver;
  let api: ServiceProcess;
  let worker: ServiceProcess;
  let client: OpenAI;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-metrics-'));
    // Few slots and some latency: the batch runs long enough to be seen running.
    simulator = await startSimulator(defaultSimulatorOptions({ models: [MODEL], capacity: 4, baseLatencyMs: 150, retryAfterSeconds: 0 }));
    receiver = await startWebhookReceiver(flakyOrDead);
    const common = { DATA_DIR: dataDir, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, WEBHOOK_ALLOW_PRIVATE: 'true' };
    api = await startServiceProcess(common, { entry: 'api' });
    worker = await startServiceProcess({ ...common, VLLM_BASE_URL: simulator.baseUrl, CHUNK_SIZE: String(CHUNK_SIZE) }, { entry: 'worker' });
    client = new OpenAI({ baseURL: api.apiUrl, apiKey: 'unused', maxRetries: 0 });
  });

  afterAll(async () => {
    expect(await worker?.stop()).toBe(0);
    expect(await api?.stop()).toBe(0);
    await simulator?.close();
    await receiver?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the counters move by what one batch did; the gauges show it running, then done', async () => {
    expect(worker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const [apiBefore, workerBefore] = await Promise.all([scrape(api.metricsUrl), scrape(worker.metricsUrl)]);

    const lines = Array.from({ length: LINES }, (_, i) => {
      const marker = i < BAD_REQUESTS ? ' [[sim:400]]' : i < BAD_REQUESTS + RATE_LIMITED_ONCE ? ' [[sim:429x1]]' : '';
      return chatLine(`req-${i}`, MODEL, `question ${i}${marker}`);
    });
    const input = await uploadJsonl(client, lines);
    const created = await fetch(`${api.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: input.id, endpoint: ENDPOINT, completion_window: '24h', webhook: { url: receiver.url('/flaky/metrics') } }),
    });
    expect(created.status).toBe(200);
    const batchId = ((await created.json()) as { id: string }).id;

    // While it runs: the autoscaling signal on the API, requests in flight on the worker.
    const running = await waitFor(
      async () => {
        const [apiNow, workerNow] = await Promise.all([scrape(api.metricsUrl), scrape(worker.metricsUrl)]);
        const seen = apiNow.value('vbs_pending_requests', { model: MODEL }) > 0 && workerNow.value('vbs_backend_requests_in_flight', { backend: simulator.baseUrl }) > 0;
        return seen && { apiNow, workerNow };
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'the batch seen running in the metrics' },
    );
    expect(running.apiNow.value('vbs_pending_requests', { model: MODEL })).toBeLessThanOrEqual(LINES);
    const deadline = running.apiNow.value('vbs_pending_deadline_seconds', { model: MODEL });
    expect(deadline).toBeGreaterThan(23 * 3600);
    expect(deadline).toBeLessThanOrEqual(24 * 3600);
    expect(running.apiNow.value('vbs_batches', { status: 'in_progress' })).toBeGreaterThanOrEqual(1);
    // The server's backlog of the model's chunk queue (a server estimate: present, not exact).
    expect(running.apiNow.has('vbs_task_queue_backlog')).toBe(true);
    expect(running.apiNow.text).toContain(`vbs_task_queue_backlog{task_queue="inference.${MODEL}",kind="activity"}`);
    expect(running.apiNow.text).toContain('vbs_task_queue_backlog{task_queue="batch-orchestrator",kind="workflow"}');
    expect(running.workerNow.value('vbs_backend_up', { backend: simulator.baseUrl })).toBe(1);
    expect(running.workerNow.value('vbs_backend_depth', { backend: simulator.baseUrl })).toBeGreaterThan(0);

    const batch = await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: LINES, completed: LINES - BAD_REQUESTS, failed: BAD_REQUESTS });
    const output = await readJsonl(client, batch.output_file_id);
    const inputTokens = output.reduce((sum, line) => sum + (line.response?.body?.usage?.prompt_tokens ?? 0), 0);
    const outputTokens = output.reduce((sum, line) => sum + (line.response?.body?.usage?.completion_tokens ?? 0), 0);
    expect(inputTokens).toBeGreaterThan(0);

    // The webhook's receiver fails its first two attempts: three in all.
    await waitFor(() => receiver.received('/flaky/metrics').length >= 3, { timeoutMs: 60_000, what: 'the webhook delivered' });
    const workerAfter = await waitFor(
      async () => {
        const now = await scrape(worker.metricsUrl);
        return delta(workerBefore, now)('vbs_webhook_attempts_total', { outcome: 'delivered' }) === 1 && now;
      },
      { timeoutMs: 10_000, what: 'the delivered attempt counted' },
    );
    const apiAfter = await scrape(api.metricsUrl);

    const worked = delta(workerBefore, workerAfter);
    const backend = { backend: simulator.baseUrl };
    expect(worked('vbs_requests_completed_total', { endpoint: ENDPOINT, model: MODEL })).toBe(LINES - BAD_REQUESTS);
    expect(worked('vbs_requests_failed_total', { endpoint: ENDPOINT, model: MODEL, code: 'http_400' })).toBe(BAD_REQUESTS);
    expect(worked('vbs_requests_failed_total', { model: MODEL })).toBe(BAD_REQUESTS);
    expect(worked('vbs_tokens_total', { model: MODEL, direction: 'input' })).toBe(inputTokens);
    expect(worked('vbs_tokens_total', { model: MODEL, direction: 'output' })).toBe(outputTokens);
    expect(worked('vbs_backend_request_duration_seconds_count', { ...backend, outcome: 'ok' })).toBe(LINES - BAD_REQUESTS);
    expect(worked('vbs_backend_request_duration_seconds_count', { ...backend, outcome: 'client_error' })).toBe(BAD_REQUESTS);
    expect(worked('vbs_backend_request_duration_seconds_count', { ...backend, outcome: 'rate_limited' })).toBe(RATE_LIMITED_ONCE);
    // At least the simulator's base latency each.
    expect(worked('vbs_backend_request_duration_seconds_sum', { ...backend, outcome: 'ok' })).toBeGreaterThanOrEqual(0.15 * (LINES - BAD_REQUESTS));
    expect(worked('vbs_backend_retries_total', { cause: 'rate_limited', charged: 'true' })).toBe(RATE_LIMITED_ONCE);
    expect(worked('vbs_backend_retries_total')).toBe(RATE_LIMITED_ONCE);
    expect(worked('vbs_chunk_attempts_total', { outcome: 'done', retry: 'false' })).toBe(LINES / CHUNK_SIZE);
    expect(worked('vbs_chunk_attempts_total')).toBe(LINES / CHUNK_SIZE);
    expect(worked('vbs_redone_requests_total')).toBe(0);
    const flushes = worked('vbs_result_flush_duration_seconds_count');
    expect(flushes).toBeGreaterThanOrEqual(LINES / CHUNK_SIZE);
    expect(flushes).toBeLessThanOrEqual(LINES);
    for (const to of ['in_progress', 'finalizing', 'completed']) expect(worked('vbs_batch_transitions_total', { to })).toBe(1);
    expect(worked('vbs_webhook_attempts_total', { outcome: 'failed' })).toBe(2);
    // The Temporal SDK's worker metrics, passed on by the same endpoint.
    expect(workerAfter.text).toMatch(/^temporal_\w+/m);
    expect(workerAfter.has('process_cpu_seconds_total')).toBe(true);

    const served = delta(apiBefore, apiAfter);
    expect(served('vbs_batch_transitions_total', { to: 'validating' })).toBe(1);
    expect(served('vbs_batches', { status: 'completed' })).toBe(1);
    expect(apiAfter.value('vbs_pending_requests', { model: MODEL })).toBe(0);
    expect(served('vbs_http_request_duration_seconds_count', { method: 'POST', route: '/v1/files', status_code: '200' })).toBe(1);
    expect(served('vbs_http_request_duration_seconds_count', { method: 'POST', route: '/v1/batches', status_code: '200' })).toBe(1);
    expect(served('vbs_http_request_duration_seconds_count', { method: 'GET', route: '/v1/batches/{batch_id}', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(apiAfter.has('vbs_queued_requests')).toBe(true);

    // The Grafana dashboard charts only series these endpoints really export.
    const dashboard = fs.readFileSync(path.join(__dirname, '../../deploy/grafana/dashboards/vbs.json'), 'utf8');
    const charted = new Set(dashboard.match(/\b(?:vbs|temporal|process)_[a-z_]+/g));
    expect(charted.size).toBeGreaterThan(15);
    for (const name of charted) expect({ name, exported: [apiAfter, workerAfter, running.apiNow].some((s) => s.has(name)) }).toEqual({ name, exported: true });
  });

  test('unknown paths share one label: a scan of random URLs adds no series', async () => {
    const before = await scrape(api.metricsUrl);
    for (const suffix of ['a', 'b', 'c']) expect((await fetch(`${api.apiUrl}/no-such-thing-${suffix}`)).status).toBe(404);
    const after = await scrape(api.metricsUrl);
    expect(delta(before, after)('vbs_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })).toBe(3);
    expect(after.text).not.toContain('no-such-thing');
  });

  test('an error answered by a route is labelled by its full pattern, /v1 included', async () => {
    const before = await scrape(api.metricsUrl);
    expect((await fetch(`${api.apiUrl}/batches/batch_no_such_batch`)).status).toBe(404);
    const after = await scrape(api.metricsUrl);
    expect(delta(before, after)('vbs_http_request_duration_seconds_count', { method: 'GET', route: '/v1/batches/{batch_id}', status_code: '404' })).toBe(1);
  });

  test('npm start serves the API, the workers and the Temporal SDK metrics on the API port', async () => {
    const sut = await startServiceUnderTest();
    try {
      const metrics = await scrape(sut.service.metricsUrl);
      expect(metrics.has('vbs_batches')).toBe(true);
      expect(metrics.has('vbs_backend_up')).toBe(true);
      expect(metrics.text).toMatch(/^temporal_\w+/m);
      expect(metrics.has('nodejs_heap_size_used_bytes')).toBe(true);
    } finally {
      expect(await sut.stop()).toBe(0);
    }
  });
});
