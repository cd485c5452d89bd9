import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import pg from 'pg';
import { openApiDocument } from '../../src/api/openapi';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { expectApiError, keysCli, VBS } from '../support/api';
import { chatLine, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { freePort } from '../support/ports';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

const MODEL = 'sim-llama-3.1-8b-instruct';

/** A distinctive secret: letters and digits only, so it reads the same raw, percent-encoded and JSON-escaped. */
const secret = (name: string) => `${name}Secret${crypto.randomBytes(12).toString('hex')}`;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * Issue 32: no credential or secret the service is given leaves the process. The production layout
 * (an API process and a worker process) gets a distinctive secret in every setting that takes one —
 * backends behind authenticating proxies (`user:password@` in VLLM_BASE_URL, and VLLM_API_KEY), a
 * dead backend with credentials, DATABASE_URL with a password of its own, tenant and operator keys
 * (static and stored), WEBHOOK_SECRET and per-batch and per-queue webhook secrets, a metrics bearer
 * token — and runs a batch with failing lines, a failing webhook and a queue; then every route is
 * called with and without keys, the CLI run, metrics scraped, every Temporal history the run made
 * read back, and a start with an invalid configuration tried. No secret may appear in any of it; a
 * leak is reported by the secret's name and where it was found.
 */
describe('nothing secret leaves the process', () => {
  const stack = testStack();
  const tenant = `tenant-${crypto.randomBytes(4).toString('hex')}`;
  const S = {
    vllmPassword: secret('vllmPassword'),
    deadBackendPassword: secret('deadBackendPassword'),
    vllmApiKey: secret('vllmApiKey'),
    databasePassword: secret('databasePassword'),
    tenantKey: secret('tenantKey'),
    operatorKey: secret('operatorKey'),
    webhookSecret: secret('webhookSecret'),
    batchWebhookSecret: secret('batchWebhookSecret'),
    queueWebhookSecret: secret('queueWebhookSecret'),
    metricsToken: secret('metricsToken'),
    invalidConfigPassword: secret('invalidConfigPassword'),
  };
  // Added once the CLI has minted them: their one showing, on `keys create`'s stdout, is not scanned.
  const secrets = new Map<string, string>([...Object.entries(S), ['vllmBasicCredentials', basic('vbs', S.vllmPassword).slice('Basic '.length)]]);
  const leaks: string[] = [];
  const scan = (where: string, text: string) => {
    for (const [name, value] of secrets) if (text.includes(value)) leaks.push(`${name} in ${where}`);
  };
  const scanResponse = async (where: string, response: Response) => {
    const body = await response.text();
    scan(`${where} (${response.status})`, `${[...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${body}`);
    return body;
  };

  let simulator: RunningSimulator;
  let basicProxy: AuthProxy;
  let bearerProxy: AuthProxy;
  let receiver: WebhookReceiver;
  let database: { url: string; drop(): Promise<void> };
  let dataDir: string;
  let env: Record<string, string>;
  let api: ServiceProcess;
  let worker: ServiceProcess;
  let client: OpenAI;
  let storedOperatorKey: string;
  let storedTenantKey: string;
  const testStart = new Date();
  const ids: { batch?: string; failingWebhookBatch?: string; queueBatch?: string; request?: string; delivery?: string } = {};

  const root = () => api.apiUrl.replace(/\/v1$/, '');
  const workerRoot = () => worker.metricsUrl.replace(/\/metrics$/, '');
  const as = (key?: string): RequestInit => (key ? { headers: { authorization: `Bearer ${key}` } } : {});
  const json = (key: string, method: string, body: unknown): RequestInit => ({
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

  beforeAll(async () => {
    simulator = await startSimulator(defaultSimulatorOptions({ models: [MODEL], retryAfterSeconds: 0 }));
    basicProxy = await startAuthProxy(simulator.port, basic('vbs', S.vllmPassword));
    bearerProxy = await startAuthProxy(simulator.port, `Bearer ${S.vllmApiKey}`);
    receiver = await startWebhookReceiver((req) => (req.url!.startsWith('/dead') ? 503 : 200));
    database = await scratchDatabaseWithPassword(stack.databaseUrl, S.databasePassword);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-secrets-'));
    env = {
      DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      DATABASE_URL: database.url,
      VLLM_BASE_URL: [
        `http://vbs:${S.vllmPassword}@127.0.0.1:${basicProxy.port}/v1`,
        `http://127.0.0.1:${bearerProxy.port}/v1`,
        // Named: its label is the name, not its URL.
        `dead-gpu=http://dead:${S.deadBackendPassword}@127.0.0.1:${await freePort()}/v1`,
      ].join(','),
      VLLM_API_KEY: S.vllmApiKey,
      VLLM_MODELS: MODEL,
      API_KEYS: `${S.tenantKey}:${tenant}`,
      OPERATOR_API_KEYS: S.operatorKey,
      WEBHOOK_SECRET: S.webhookSecret,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      METRICS_BEARER_TOKEN: S.metricsToken,
      REQUEST_MAX_ATTEMPTS: '2',
      QUEUE_MODEL: MODEL,
      QUEUE_TIME_THRESHOLD_SECONDS: '1',
      QUEUE_TIME_INTERVAL_SECONDS: '0.5',
      // Every level, so a secret in a debug or trace line is found too.
      LOG_LEVEL: 'trace',
    };
    // The API keeps /metrics on its own port (METRICS_PORT unset); the worker serves it on a listener of its own.
    api = await startServiceProcess({ ...env, METRICS_PORT: '' }, { entry: 'api' });
    worker = await startServiceProcess(env, { entry: 'worker' });
    client = new OpenAI({ baseURL: api.apiUrl, apiKey: S.tenantKey, maxRetries: 0 });

    storedOperatorKey = (await keysCli(database.url, 'create', '--operator', '--name', 'ops')).stdout.trim();
    storedTenantKey = (await keysCli(database.url, 'create', '--tenant', tenant)).stdout.trim();
    secrets.set('storedOperatorKey', storedOperatorKey);
    secrets.set('storedTenantKey', storedTenantKey);
  });

  afterAll(async () => {
    await terminateRetryingWebhooks();
    expect(await worker?.stop()).toBe(0);
    expect(await api?.stop()).toBe(0);
    await Promise.all([basicProxy?.close(), bearerProxy?.close(), simulator?.close(), receiver?.close()]);
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    leaks.length = 0;
  });

  test('probes and metrics tell no secret; readiness details, by redacted labels, only for operators and on the metrics listener', async () => {
    const labels = {
      basic: `http://127.0.0.1:${basicProxy.port}/v1`,
      bearer: `http://127.0.0.1:${bearerProxy.port}/v1`,
    };
    const answers: Record<string, Response> = {};
    for (const [name, key] of [
      ['no key', undefined],
      ['tenant key', S.tenantKey],
      ['stored tenant key', storedTenantKey],
      ['operator key', S.operatorKey],
      ['stored operator key', storedOperatorKey],
      ['metrics token', S.metricsToken],
      ['unknown key', 'sk-unknown'],
    ] as const) {
      for (const route of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
        const response = await fetch(`${root()}${route}`, as(key));
        answers[`${route} ${name}`] = response;
        await scanResponse(`API GET ${route} (${name})`, response.clone());
      }
      for (const route of ['/metrics', '/readyz', '/elsewhere']) await scanResponse(`worker GET ${route} (${name})`, await fetch(`${workerRoot()}${route}`, as(key)));
    }
    expect(leaks).toEqual([]);

    // The backends behind the proxies answer only when sent their credentials.
    const workerReadiness = await waitFor(
      async () => {
        const response = await fetch(`${workerRoot()}/readyz`, as(S.metricsToken));
        const body = JSON.parse(await scanResponse('worker GET /readyz (metrics token)', response)) as { backends: Array<{ label: string; state: string }> };
        return body.backends.filter((b) => b.state === 'up').length === 2 && body;
      },
      { timeoutMs: 30_000, what: 'both authenticated backends in rotation' },
    );
    expect(leaks).toEqual([]);

    for (const name of ['no key', 'tenant key', 'stored tenant key', 'metrics token', 'unknown key']) {
      expect(await answers[`/readyz ${name}`]!.json()).toEqual({ status: 'ok' });
    }
    for (const name of ['operator key', 'stored operator key'])
      expect(await answers[`/readyz ${name}`]!.json()).toEqual({ status: 'ok', postgres: true, temporal: true });
    expect(workerReadiness).toMatchObject({ status: 'ok', postgres: true, temporal: true });
    expect(workerReadiness.backends.map((b) => [b.label, b.state])).toEqual([
      [labels.basic, 'up'],
      [labels.bearer, 'up'],
      ['dead-gpu', 'starting'],
    ]);

    // /metrics on the API's port is an operator endpoint: a tenant's valid key is a 403.
    for (const name of ['operator key', 'stored operator key', 'metrics token']) expect(answers[`/metrics ${name}`]!.status).toBe(200);
    for (const name of ['tenant key', 'stored tenant key']) {
      await expectApiError(answers[`/metrics ${name}`]!, { status: 403, type: 'permission_error', code: 'operator_scope_required', param: null });
    }
    await expectApiError(answers['/metrics no key']!, { status: 401, type: 'authentication_error', code: 'missing_api_key', param: null });
    await expectApiError(answers['/metrics unknown key']!, { status: 401, type: 'authentication_error', code: 'invalid_api_key', param: null });
    // The worker's listener takes the bearer token only.
    expect((await fetch(`${workerRoot()}/metrics`, as(S.operatorKey))).status).toBe(401);
    const workerMetrics = await (await fetch(`${workerRoot()}/metrics`, as(S.metricsToken))).text();
    expect(workerMetrics).toContain(`vbs_backend_up{backend="${labels.basic}"} 1`);
  });

  test('a batch with failing lines and webhooks, a queue and the CLI leave no secret in any object, file, delivery or output', async () => {
    const lines = [chatLine('ok-1', MODEL, 'hello'), chatLine('ok-2', MODEL, 'there'), chatLine('fails', MODEL, 'no [[sim:500]]')];
    const input = await uploadJsonl(client, lines);
    const create = async (hook: string, webhookSecret?: string) => {
      const response = await fetch(
        `${api.apiUrl}/batches`,
        json(S.tenantKey, 'POST', {
          input_file_id: input.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          webhook: { url: receiver.url(hook), ...(webhookSecret ? { secret: webhookSecret } : {}) },
        }),
      );
      expect(response.status).toBe(200);
      return (JSON.parse(await scanResponse('POST /v1/batches', response)) as { id: string }).id;
    };
    ids.batch = await create('/ok/batch', S.batchWebhookSecret);
    ids.failingWebhookBatch = await create('/dead/batch');

    const queue = await fetch(
      `${api.apiUrl}/queues`,
      json(S.tenantKey, 'POST', { name: 'leaky', time_threshold: 0, webhook: { url: receiver.url('/ok/queue'), secret: S.queueWebhookSecret } }),
    );
    await scanResponse('POST /v1/queues', queue);
    const enqueued = await fetch(`${api.apiUrl}/requests?queue=leaky`, json(S.tenantKey, 'POST', { data: [[{ role: 'user', content: 'queued' }]] }));
    ids.request = (JSON.parse(await scanResponse('POST /v1/requests', enqueued)) as { request_ids: string[] }).request_ids[0]!;

    for (const batchId of [ids.batch, ids.failingWebhookBatch]) {
      const batch = await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status), 60_000);
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 2, failed: 1 } });
      scan(`batch ${batchId}`, JSON.stringify(batch));
      for (const line of [...(await readJsonl(client, batch.output_file_id)), ...(await readJsonl(client, batch.error_file_id))])
        scan(`result files of ${batchId}`, JSON.stringify(line));
    }
    const queued = await waitFor(
      async () => {
        const body = (await (await fetch(`${api.apiUrl}/requests/${ids.request}`, as(S.tenantKey))).json()) as { status: string; batch_id: string | null };
        return body.status === 'completed' && body;
      },
      { timeoutMs: 60_000, what: 'the queued request to complete' },
    );
    ids.queueBatch = queued.batch_id!;

    const deliveries = await waitFor(
      async () => {
        const body = (await (await fetch(`${api.apiUrl}/batches/${ids.failingWebhookBatch}/webhook_deliveries`, as(S.tenantKey))).json()) as {
          data: Array<{ id: string; attempt_count: number }>;
        };
        return body.data[0] && body.data[0].attempt_count >= 2 && body;
      },
      { timeoutMs: 60_000, what: 'two failed webhook attempts' },
    );
    ids.delivery = deliveries.data[0]!.id;
    await waitFor(() => receiver.received('/ok/batch').length > 0 && receiver.received('/ok/queue').length > 0, { timeoutMs: 60_000, what: 'the webhooks delivered' });
    // What receivers get is the event, signed with the secret, never carrying it.
    for (const request of receiver.requests) scan(`webhook body to ${request.path}`, request.body);

    const vbs = (args: string[], extraEnv: Record<string, string> = {}) =>
      promisify(execFile)(process.execPath, [VBS, ...args], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url, VBS_BASE_URL: api.apiUrl, OPENAI_API_KEY: S.tenantKey, ...extraEnv },
        encoding: 'utf8',
      }).then(
        ({ stdout, stderr }) => `${stdout}${stderr}`,
        (err: { stdout: string; stderr: string }) => `${err.stdout}${err.stderr}`,
      );
    for (const args of [
      ['keys', 'list'],
      ['keys', 'list', '--json'],
      ['list', '--json'],
      ['status', ids.batch],
      ['queue', 'get', 'leaky'],
      ['queue', 'request', ids.request],
    ]) {
      scan(`vbs ${args.join(' ')}`, await vbs(args));
    }
    const credentialed = await vbs(['list'], { VBS_BASE_URL: `http://vbs:${S.invalidConfigPassword}@127.0.0.1:${await freePort()}/v1` });
    expect(credentialed).toMatch(/^vbs: --base-url http:\/\/\[redacted\]@127\.0\.0\.1:\d+\/v1 carries credentials: pass the API key with --api-key/);
    scan('vbs list (a base URL with credentials)', credentialed);
    expect(leaks).toEqual([]);
    expect(basicProxy.refused + bearerProxy.refused).toBe(0);
  });

  test('every route of the OpenAPI document, with and without keys, answers without a secret', async () => {
    const document = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const params: Record<string, string> = {
      file_id: (await client.files.list()).data[0]!.id,
      batch_id: ids.batch!,
      delivery_id: ids.delivery!,
      queue: 'leaky',
      request_id: ids.request!,
    };
    const keys: Array<[string, string | undefined]> = [
      ['no key', undefined],
      ['unknown key', 'sk-unknown'],
      ['tenant key', S.tenantKey],
      ['stored tenant key', storedTenantKey],
      ['operator key', S.operatorKey],
    ];
    // Reads first, then what changes state (cancel, retry, replay, delete), so every read sees the objects.
    const operations = Object.entries(document.paths)
      .flatMap(([route, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), route })))
      .sort((a, b) => Number(a.method !== 'GET') - Number(b.method !== 'GET'));
    expect(operations.length).toBeGreaterThan(20);
    for (const { method, route } of operations) {
      const url = `${root()}${route.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]!))}`;
      for (const [name, key] of keys) {
        const init: RequestInit = {
          method,
          headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
        };
        if (method !== 'GET' && method !== 'DELETE') init.body = '{}';
        await scanResponse(`${method} ${route} (${name})`, await fetch(url, init));
      }
    }
    await scanResponse('GET unknown route', await fetch(`${root()}/v1/nowhere`, as(S.tenantKey)));
    expect(leaks).toEqual([]);
  });

  test('the Temporal history of every workflow the run started (inputs, search attributes, failures) holds no secret', async () => {
    const connection = await Connection.connect({ address: stack.temporalAddress });
    try {
      const temporal = new Client({ connection });
      const read: string[] = [];
      for await (const execution of temporal.workflow.list({ query: `StartTime >= "${testStart.toISOString()}"` })) {
        const history = await temporal.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
        scan(`Temporal history of ${execution.workflowId} (${execution.type})`, textOf(history));
        scan(`Temporal search attributes of ${execution.workflowId}`, textOf(execution.searchAttributes));
        read.push(execution.workflowId);
      }
      // The batch, its webhook deliveries (the failing one's failures included) and the queue's dispatcher were all read.
      expect(read).toEqual(expect.arrayContaining([ids.batch, ids.failingWebhookBatch, ids.queueBatch, `${ids.failingWebhookBatch}:webhook:batch.completed`]));
      expect(read.some((id) => id.startsWith('queue:'))).toBe(true);
    } finally {
      await connection.close();
    }
    expect(leaks).toEqual([]);
  });

  test('an invalid configuration is refused in one line that echoes no secret', async () => {
    const failed = await startServiceProcess(
      {
        ...env,
        VLLM_BASE_URL: `http://vbs:${S.invalidConfigPassword}@127.0.0.1:1/v1,ftp://vbs:${S.invalidConfigPassword}@127.0.0.1/v1`,
        WEBHOOK_SECRET: `whsec_${S.invalidConfigPassword}!`,
        METRICS_PORT: S.invalidConfigPassword,
      },
      // The worker's two roles read all three (an API reads only METRICS_PORT of them).
      { entry: 'worker' },
    ).then(
      async (started) => {
        await started.stop();
        throw new Error('started with an invalid configuration');
      },
      (err: Error) => err.message,
    );
    const output = failed.replace(/^worker exited with 1:\n/, '');
    expect(output).toMatch(/^invalid configuration: [^\n]*\n$/);
    for (const name of ['VLLM_BASE_URL', 'METRICS_PORT', 'WEBHOOK_SECRET']) expect(output).toContain(name);
    scan('the refused start', output);
    expect(leaks).toEqual([]);
  });

  test('the logs of both processes, at every level, and a last scrape of their metrics hold no secret', async () => {
    scan('API metrics', await (await fetch(`${root()}/metrics`, as(S.operatorKey))).text());
    scan('worker metrics', await (await fetch(`${workerRoot()}/metrics`, as(S.metricsToken))).text());
    scan('API process output', api.output());
    scan('worker process output', worker.output());
    expect(leaks).toEqual([]);
    // Backends are named in the logs, by their labels: redacted, not left out.
    expect(worker.output()).toContain('"backend":"dead-gpu","msg":"backend not answering yet: waiting for it"');
    expect(worker.output()).toContain(`http://127.0.0.1:${basicProxy.port}/v1`);
  });

  /** Failing deliveries retry for a day on the shared Temporal server: stop them. */
  async function terminateRetryingWebhooks(): Promise<void> {
    if (!ids.failingWebhookBatch) return;
    const connection = await Connection.connect({ address: stack.temporalAddress });
    try {
      await new Client({ connection }).workflow
        .getHandle(`${ids.failingWebhookBatch}:webhook:batch.completed`)
        .terminate('test over')
        .catch(() => undefined);
    } finally {
      await connection.close();
    }
  }
});

type AuthProxy = { port: number; refused: number; close(): Promise<void> };

/** An authenticating reverse proxy in front of the simulator, as operators put one before vLLM: 401 unless sent `authorization`. */
async function startAuthProxy(targetPort: number, authorization: string): Promise<AuthProxy> {
  const proxy = { port: 0, refused: 0, close: async () => undefined as void };
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== authorization) {
      proxy.refused++;
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"unauthorized"}}');
      return;
    }
    const upstream = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as AddressInfo).port;
  proxy.close = () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

/** A database of its own, owned by a role of its own with `password`: DATABASE_URL then carries a secret PostgreSQL checks. */
async function scratchDatabaseWithPassword(adminUrl: string, password: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `secrets_${crypto.randomBytes(6).toString('hex')}`;
  const admin = async (...statements: string[]) => {
    const db = new pg.Client({ connectionString: adminUrl });
    await db.connect();
    try {
      for (const sql of statements) await db.query(sql);
    } finally {
      await db.end();
    }
  };
  await admin(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`, `CREATE DATABASE ${name} OWNER ${name}`);
  const url = new URL(adminUrl);
  url.username = name;
  url.password = password;
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `DROP ROLE IF EXISTS ${name}`) };
}

/** Every string of a Temporal history (or any proto object), payloads decoded from their bytes. */
function textOf(value: unknown): string {
  const parts: string[] = [];
  const visit = (item: unknown): void => {
    if (item === null || item === undefined) return;
    if (typeof item === 'string') parts.push(item);
    else if (item instanceof Uint8Array) parts.push(Buffer.from(item).toString('utf8'));
    else if (Array.isArray(item)) item.forEach(visit);
    else if (typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        parts.push(key);
        visit(child);
      }
    } else if (typeof item === 'number' || typeof item === 'boolean' || typeof item === 'bigint') parts.push(String(item));
  };
  visit(value);
  return parts.join('\n');
}
