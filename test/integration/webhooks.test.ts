import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import OpenAI from 'openai';
import { Webhook } from 'standardwebhooks';
import { chatLine, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { webhookWorkflowId } from '../../src/webhooks/workflowIds';

const MODEL = 'sim-llama-3.1-8b-instruct';
const GLOBAL_SECRET = 'server-wide-secret';

type Received = { path: string; headers: http.IncomingHttpHeaders; body: string };

/** A receiver on loopback: paths under /flaky fail their first two requests, /dead always fails. */
async function startReceiver() {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url!, headers: req.headers, body });
      const seen = received.filter((r) => r.path === req.url).length;
      if (req.url!.startsWith('/dead')) return void res.writeHead(503).end();
      if (req.url!.startsWith('/flaky') && seen <= 2) return void res.writeHead(500).end();
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (p: string) => `http://127.0.0.1:${port}${p}`,
    received: (p: string) => received.filter((r) => r.path === p),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The two checks a receiver makes, written out as the docs show them. */
function verifyBoth(request: Received, secret: string): { hex: boolean; standard: boolean } {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
  const hex = crypto.createHmac('sha256', key).update(request.body).digest('hex') === request.headers['x-webhook-signature'];
  const library = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(key, { format: 'raw' });
  let standard = true;
  try {
    library.verify(request.body, request.headers as Record<string, string>);
  } catch {
    standard = false;
  }
  return { hex, standard };
}

describe('batch webhooks end to end (WEBHOOK_ALLOW_PRIVATE=true)', () => {
  const stack = testStack();
  let service: ServiceProcess;
  let client: OpenAI;
  let dataDir: string;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-webhooks-'));
    service = await startServiceProcess({
      DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      DATABASE_URL: stack.databaseUrl,
      VLLM_BASE_URL: stack.simulatorUrl,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_SECRET: GLOBAL_SECRET,
    });
    client = new OpenAI({ baseURL: service.apiUrl, apiKey: 'unused-in-open-mode', maxRetries: 0 });
  });

  afterAll(async () => {
    expect(await service?.stop()).toBe(0);
    await receiver?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function createBatch(lines: string[], extra: Record<string, unknown>): Promise<{ status: number; body: any }> {
    const input = await uploadJsonl(client, lines);
    const response = await fetch(`${service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...extra }),
    });
    return { status: response.status, body: await response.json() };
  }

  const deliveries = async (batchId: string) => (await (await fetch(`${service.apiUrl}/batches/${batchId}/webhook_deliveries`)).json()) as any;

  test('a per-batch secret signs both schemes; attempts the receiver fails are retried until acknowledged', async () => {
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const hook = `/flaky/${crypto.randomUUID()}`;
    const created = await createBatch([chatLine('a', MODEL, 'hi'), chatLine('b', MODEL, 'there')], {
      webhook: { url: receiver.url(hook), secret, events: ['batch.completed', 'batch.in_progress'] },
    });
    expect(created.status).toBe(200);
    expect(created.body.webhook).toEqual({ url: receiver.url(hook), events: ['batch.completed', 'batch.in_progress'] });
    expect(JSON.stringify(created.body)).not.toContain(secret);

    const batch = await waitForBatch(client, created.body.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('completed');

    const completed = await waitFor(
      () => receiver.received(hook).find((r) => r.headers['x-webhook-signature'] && JSON.parse(r.body).event === 'batch.completed' && r),
      { timeoutMs: 60_000, what: 'the batch.completed webhook' },
    );
    expect(verifyBoth(completed, secret)).toEqual({ hex: true, standard: true });
    expect(verifyBoth({ ...completed, body: completed.body.replace('"completed"', '"failed"') }, secret)).toEqual({ hex: false, standard: false });
    expect(JSON.parse(completed.body)).toMatchObject({
      object: 'event',
      type: 'batch.completed',
      batch_id: batch.id,
      status: 'completed',
      output_file_id: batch.output_file_id,
      request_counts: { total: 2, completed: 2, failed: 0 },
      data: { id: batch.id, status: 'completed' },
    });

    const list = await waitFor(
      async () => {
        const body = await deliveries(batch.id);
        return body.data.length === 2 && body.data.every((d: { status: string }) => d.status === 'delivered') && body;
      },
      { timeoutMs: 60_000, what: 'both deliveries delivered' },
    );
    // Two failures (on whichever event came first) and one success per event.
    expect(list.data.reduce((n: number, d: { attempts: unknown[] }) => n + d.attempts.length, 0)).toBe(4);
  });

  test('metadata.webhook_url uses the server-wide secret and the default (terminal) events', async () => {
    const hook = `/ok/${crypto.randomUUID()}`;
    const created = await createBatch([chatLine('a', MODEL, 'hi')], { metadata: { webhook_url: receiver.url(hook) } });
    expect(created.status).toBe(200);
    await waitForBatch(client, created.body.id, (b) => TERMINAL.includes(b.status));
    const [request] = await waitFor(() => receiver.received(hook).length > 0 && receiver.received(hook), { timeoutMs: 60_000, what: 'webhook' });
    expect(JSON.parse(request!.body).event).toBe('batch.completed');
    expect(verifyBoth(request!, GLOBAL_SECRET)).toEqual({ hex: true, standard: true });
  });

  test('a failed validation sends batch.failed', async () => {
    const hook = `/ok/${crypto.randomUUID()}`;
    const created = await createBatch(['{not json'], { webhook: { url: receiver.url(hook) } });
    const batch = await waitForBatch(client, created.body.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('failed');
    const [request] = await waitFor(() => receiver.received(hook).length > 0 && receiver.received(hook), { timeoutMs: 60_000, what: 'webhook' });
    expect(JSON.parse(request!.body)).toMatchObject({ event: 'batch.failed', status: 'failed', batch_id: batch.id });
  });

  test('a dead receiver neither fails nor delays the batch; its attempts are recorded', async () => {
    const hook = `/dead/${crypto.randomUUID()}`;
    const created = await createBatch([chatLine('a', MODEL, 'hi')], { webhook: { url: receiver.url(hook) } });
    const batch = await waitForBatch(client, created.body.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('completed');
    const list = await waitFor(
      async () => {
        const body = await deliveries(batch.id);
        return body.data[0]?.attempt_count >= 2 && body;
      },
      { timeoutMs: 60_000, what: 'two recorded attempts' },
    );
    expect(list.data[0]).toMatchObject({ status: 'pending', last_error: 'HTTP 503' });
    expect((await client.batches.retrieve(batch.id)).status).toBe('completed');

    // The delivery would keep retrying for 24 h on the shared Temporal server: stop it.
    const connection = await Connection.connect({ address: stack.temporalAddress });
    try {
      await new Client({ connection }).workflow.getHandle(webhookWorkflowId(batch.id, 'batch.completed')).terminate('test over');
    } finally {
      await connection.close();
    }
  });

  test('only http(s) webhook URLs are accepted', async () => {
    const created = await createBatch([chatLine('a', MODEL, 'hi')], { webhook: { url: 'file:///etc/passwd' } });
    expect(created.status).toBe(400);
    expect(created.body.error).toMatchObject({ type: 'invalid_request_error', param: 'webhook.url' });
  });
});
