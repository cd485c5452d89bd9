import crypto from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type OpenAI from 'openai';
import { chatLine, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { flakyOrDead, hexSignatureValid, standardSignatureValid, startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../support/webhookReceiver';
import { webhookWorkflowId } from '../../src/webhooks/workflowIds';

const MODEL = 'sim-llama-3.1-8b-instruct';
const GLOBAL_SECRET = 'server-wide-secret';

/** The two checks a receiver makes, as the docs show them (written out in test/support/webhookReceiver). */
function verifyBoth(request: Pick<ReceivedRequest, 'headers' | 'body'>, secret: string): { hex: boolean; standard: boolean } {
  return { hex: hexSignatureValid(request, secret), standard: standardSignatureValid(request, secret) };
}

describe('batch webhooks end to end (WEBHOOK_ALLOW_PRIVATE=true)', () => {
  const stack = testStack();
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    // Paths under /flaky fail their first two requests, /dead always fails.
    receiver = await startWebhookReceiver(flakyOrDead);
    sut = await startServiceUnderTest({ env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_SECRET: GLOBAL_SECRET } });
    client = sut.client;
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await receiver?.close();
  });

  async function createBatch(lines: string[], extra: Record<string, unknown>): Promise<{ status: number; body: any }> {
    const input = await uploadJsonl(client, lines);
    const response = await fetch(`${sut.service.apiUrl}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...extra }),
    });
    return { status: response.status, body: await response.json() };
  }

  const deliveries = async (batchId: string) => (await (await fetch(`${sut.service.apiUrl}/batches/${batchId}/webhook_deliveries`)).json()) as any;

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

    const completed = await waitFor(() => receiver.received(hook).find((r) => r.headers['x-webhook-signature'] && JSON.parse(r.body).event === 'batch.completed' && r), {
      timeoutMs: 60_000,
      what: 'the batch.completed webhook',
    });
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
