import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import express from 'express';
import { createWebhookActivities, type WebhookActivityConfig } from '../../src/activities/webhooks';
import { errorHandler } from '../../src/api/errors';
import { apiDeps } from '../../src/api/app';
import { operationsRouter } from '../../src/api/operation';
import { webhookDeliveryOperations } from '../../src/api/resources/webhookDeliveries';
import { loadSettings } from '../../src/config';
import type { Db } from '../../src/db/pool';
import { findDeliveryToSend, listDeliveries } from '../../src/store/webhooks';
import { ORCHESTRATOR_TASK_QUEUE } from '../../src/domain/taskQueues';
import type { BatchStatus } from '../../src/states/batch';
import type { WebhookConfig, WebhookEventType } from '../../src/states/webhook';
import { vetNewBatchWebhook } from '../../src/webhooks/config';
import type { WebhookEvent } from '../../src/webhooks/payload';
import { webhookWorkflowId } from '../../src/webhooks/workflowIds';
import type { webhookDeliveryWorkflow } from '../../src/workflows/webhook';
import { connectTestDb, insertRanBatch } from '../support/fixtures';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { flakyOrDead, hexSignatureValid, standardSignatureValid, startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

/**
 * The webhook path on the real stack, short of the batch workflow: activities against PostgreSQL,
 * the delivery workflow on Temporal, the deliveries API, and a real receiver on 127.0.0.1.
 */

const TENANT = 'tenant-webhooks';
const GLOBAL_SECRET = 'global-secret-✓';

describe('webhook deliveries on the real stack', () => {
  const stack = testStack();
  let db: Db;
  let connection: Connection;
  let client: Client;
  let nativeConnection: NativeConnection;
  let bundle: WorkflowBundleWithSourceMap;
  let receiver: WebhookReceiver;
  let api: http.Server;
  let apiUrl: string;

  beforeAll(async () => {
    // Failed attempts are the point of these tests: keep the SDK's warnings about them out of the output.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    db = await connectTestDb();
    connection = await Connection.connect({ address: stack.temporalAddress });
    client = new Client({ connection });
    nativeConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows/webhook') });
    // /flaky fails twice before acknowledging; /dead always fails; everything else acknowledges.
    receiver = await startWebhookReceiver(flakyOrDead);
    const app = express();
    app.use((req, res, next) => {
      res.locals.tenantId = req.header('x-test-tenant') ?? TENANT;
      next();
    });
    app.use('/v1', operationsRouter(webhookDeliveryOperations, apiDeps(loadSettings(['api'], {}), db, client)));
    app.use(errorHandler);
    api = http.createServer(app);
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/v1`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => api?.close(() => resolve()));
    await receiver?.close();
    await nativeConnection?.close();
    await connection?.close();
    await db?.end();
  });

  const insertBatch = (webhook: WebhookConfig | null, status?: BatchStatus) => insertRanBatch(db, TENANT, webhook, status);

  const config = (overrides: Partial<WebhookActivityConfig> = {}): WebhookActivityConfig => ({
    allowPrivate: true,
    defaultSecret: GLOBAL_SECRET,
    attemptTimeoutMs: 2000,
    ...overrides,
  });

  async function withWorker<T>(workerConfig: WebhookActivityConfig, fn: () => Promise<T>): Promise<T> {
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowBundle: bundle,
      activities: createWebhookActivities({ db, config: workerConfig }),
    });
    return worker.runUntil(fn);
  }

  const runDelivery = (batchId: string, eventType: WebhookEventType) =>
    client.workflow.execute<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
      taskQueue: ORCHESTRATOR_TASK_QUEUE,
      workflowId: webhookWorkflowId(batchId, eventType),
      args: [{ batchId, eventType }],
    });

  const apiCall = async (method: string, path: string, tenant = TENANT) => {
    const response = await fetch(`${apiUrl}${path}`, { method, headers: { 'x-test-tenant': tenant } });
    return { status: response.status, body: (await response.json()) as any };
  };

  test('a receiver failing the first attempts gets the event on the third, signed with the batch secret', async () => {
    const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const path = `/flaky/${crypto.randomUUID()}`;
    const batchId = await insertBatch({ url: receiver.url(path), secret });

    const result = await withWorker(config(), () => runDelivery(batchId, 'batch.completed'));
    expect(result).toEqual({ deliveryId: expect.stringMatching(/^whdel_/), status: 'delivered' });

    const requests = receiver.received(path);
    expect(requests).toHaveLength(3);
    // Every attempt carries the same event and bytes; each is signed afresh.
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    for (const request of requests) {
      expect(hexSignatureValid(request, secret)).toBe(true);
      expect(standardSignatureValid(request, secret)).toBe(true);
      expect(hexSignatureValid(request, GLOBAL_SECRET)).toBe(false);
    }
    const event = JSON.parse(requests[0]!.body) as WebhookEvent;
    expect(event).toMatchObject({
      object: 'event',
      type: 'batch.completed',
      event: 'batch.completed',
      batch_id: batchId,
      status: 'completed',
      output_file_id: 'file-out',
      error_file_id: null,
      request_counts: { total: 2, completed: 2, failed: 0 },
      data: { id: batchId, object: 'batch', status: 'completed' },
    });
    expect(requests[0]!.headers['webhook-id']).toBe(event.id);

    const listed = await apiCall('GET', `/batches/${batchId}/webhook_deliveries`);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ object: 'list', has_more: false, first_id: result.deliveryId, last_id: result.deliveryId });
    expect(listed.body.data).toEqual([
      {
        id: result.deliveryId,
        object: 'webhook_delivery',
        batch_id: batchId,
        event_id: event.id,
        event_type: 'batch.completed',
        url: receiver.url(path),
        status: 'delivered',
        attempt_count: 3,
        created_at: expect.any(Number),
        delivered_at: expect.any(Number),
        last_error: null,
        attempts: [
          { attempt: 1, started_at: expect.any(Number), duration_ms: expect.any(Number), status_code: 500, error: 'HTTP 500' },
          { attempt: 2, started_at: expect.any(Number), duration_ms: expect.any(Number), status_code: 500, error: 'HTTP 500' },
          { attempt: 3, started_at: expect.any(Number), duration_ms: expect.any(Number), status_code: 200, error: null },
        ],
      },
    ]);
    // Exponential backoff: 5 s, then 10 s.
    const [first, second, third] = listed.body.data[0].attempts;
    expect(second.started_at - first.started_at).toBeGreaterThanOrEqual(4);
    expect(third.started_at - second.started_at).toBeGreaterThanOrEqual(9);
  });

  test('a batch without a secret of its own is signed with the server-wide secret', async () => {
    const path = `/ok/${crypto.randomUUID()}`;
    const batchId = await insertBatch({ url: receiver.url(path) });
    const result = await withWorker(config(), () => runDelivery(batchId, 'batch.completed'));
    expect(result.status).toBe('delivered');
    const [request] = receiver.received(path);
    expect(hexSignatureValid(request!, GLOBAL_SECRET)).toBe(true);
    expect(standardSignatureValid(request!, GLOBAL_SECRET)).toBe(true);
  });

  test('events the webhook does not subscribe to, and batches without a webhook, deliver nothing', async () => {
    const path = `/ok/${crypto.randomUUID()}`;
    const subscribed = await insertBatch({ url: receiver.url(path), events: ['batch.failed'] });
    const bare = await insertBatch(null);
    await withWorker(config(), async () => {
      expect(await runDelivery(subscribed, 'batch.completed')).toEqual({ deliveryId: null, status: 'skipped' });
      expect(await runDelivery(subscribed, 'batch.in_progress')).toEqual({ deliveryId: null, status: 'skipped' });
      expect(await runDelivery(bare, 'batch.completed')).toEqual({ deliveryId: null, status: 'skipped' });
    });
    expect(receiver.received(path)).toEqual([]);
    expect(await listDeliveries(db, subscribed)).toEqual([]);

    const optedIn = await insertBatch({ url: receiver.url(path), events: ['batch.in_progress'] }, 'in_progress');
    const result = await withWorker(config(), () => runDelivery(optedIn, 'batch.in_progress'));
    expect(result.status).toBe('delivered');
    expect(JSON.parse(receiver.received(path)[0]!.body)).toMatchObject({ event: 'batch.in_progress', status: 'in_progress' });
  });

  test('a refused destination fails at once; the user replays it once private destinations are allowed', async () => {
    const path = `/ok/${crypto.randomUUID()}`;
    const batchId = await insertBatch({ url: receiver.url(path), secret: 'per-batch' });
    const failed = await withWorker(config({ allowPrivate: false }), () => runDelivery(batchId, 'batch.completed'));
    expect(failed.status).toBe('failed');
    expect(receiver.received(path)).toEqual([]);
    const [delivery] = (await apiCall('GET', `/batches/${batchId}/webhook_deliveries`)).body.data;
    expect(delivery).toMatchObject({ status: 'failed', attempt_count: 1, last_error: expect.stringMatching(/^destination refused: 127\.0\.0\.1 is a loopback/) });
    expect(delivery.attempts).toEqual([{ attempt: 1, started_at: expect.any(Number), duration_ms: 0, status_code: null, error: delivery.last_error }]);

    // Another tenant sees neither the batch nor its deliveries.
    expect((await apiCall('GET', `/batches/${batchId}/webhook_deliveries`, 'someone-else')).status).toBe(404);
    expect((await apiCall('POST', `/batches/${batchId}/webhook_deliveries/${delivery.id}/replay`, 'someone-else')).status).toBe(404);
    expect((await apiCall('POST', `/batches/${batchId}/webhook_deliveries/whdel_nope/replay`)).body.error).toMatchObject({
      code: 'not_found',
      type: 'invalid_request_error',
    });

    await withWorker(config(), async () => {
      const replay = await apiCall('POST', `/batches/${batchId}/webhook_deliveries/${delivery.id}/replay`);
      expect(replay.status).toBe(200);
      expect(replay.body).toMatchObject({ id: delivery.id, status: 'pending', attempt_count: 1 });
      const again = await apiCall('POST', `/batches/${batchId}/webhook_deliveries/${delivery.id}/replay`);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('webhook_delivery_not_failed');
      const result = await client.workflow.getHandle(webhookWorkflowId(batchId, 'batch.completed', 1)).result();
      expect(result).toEqual({ deliveryId: delivery.id, status: 'delivered' });
    });
    const [request] = receiver.received(path);
    expect(hexSignatureValid(request!, 'per-batch')).toBe(true);
    expect(standardSignatureValid(request!, 'per-batch')).toBe(true);
    expect(request!.headers['webhook-id']).toBe(delivery.event_id);
    const [replayed] = (await apiCall('GET', `/batches/${batchId}/webhook_deliveries`)).body.data;
    expect(replayed).toMatchObject({ status: 'delivered', attempt_count: 2, last_error: null });
    expect(replayed.attempts.map((a: { status_code: number | null }) => a.status_code)).toEqual([null, 200]);
  });

  test('a dead receiver: every attempt is recorded while the workflow keeps retrying', async () => {
    const batchId = await insertBatch({ url: receiver.url(`/dead/${crypto.randomUUID()}`) });
    await withWorker(config(), async () => {
      const handle = await client.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
        taskQueue: ORCHESTRATOR_TASK_QUEUE,
        workflowId: webhookWorkflowId(batchId, 'batch.completed'),
        args: [{ batchId, eventType: 'batch.completed' }],
      });
      const [delivery] = await waitFor(
        async () => {
          const deliveries = await listDeliveries(db, batchId);
          return deliveries[0] && deliveries[0].attempt_count >= 2 ? deliveries : undefined;
        },
        { timeoutMs: 30_000, what: 'two failed attempts' },
      );
      expect(delivery).toMatchObject({ status: 'pending', last_error: 'HTTP 503' });
      expect(delivery!.attempts.map((a) => a.status_code)).toEqual([503, 503]);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      await handle.terminate('test over');
    });
  });

  describe('activities without Temporal', () => {
    const activities = () => createWebhookActivities({ db, config: config({ defaultSecret: undefined }) });

    test('prepare is idempotent: a retry keeps the first event ID and body', async () => {
      const batchId = await insertBatch({ url: receiver.url(`/ok/${crypto.randomUUID()}`) });
      const first = await activities().prepareWebhookDelivery(batchId, 'batch.completed');
      const before = await findDeliveryToSend(db, first!);
      const second = await activities().prepareWebhookDelivery(batchId, 'batch.completed');
      expect(second).toBe(first);
      expect(await findDeliveryToSend(db, first!)).toEqual(before);
    });

    test('with no secret anywhere the request is unsigned; a delivered delivery is not sent again', async () => {
      const path = `/ok/${crypto.randomUUID()}`;
      const batchId = await insertBatch({ url: receiver.url(path) });
      const deliveryId = (await activities().prepareWebhookDelivery(batchId, 'batch.completed'))!;
      expect(await activities().deliverWebhook(deliveryId)).toBe('delivered');
      expect(await activities().deliverWebhook(deliveryId)).toBe('delivered');
      const requests = receiver.received(path);
      expect(requests).toHaveLength(1);
      expect(requests[0]!.headers).toMatchObject({ 'webhook-id': expect.stringMatching(/^evt_/), 'webhook-timestamp': expect.stringMatching(/^\d+$/) });
      expect(requests[0]!.headers['x-webhook-signature']).toBeUndefined();
      expect(requests[0]!.headers['webhook-signature']).toBeUndefined();
    });

    test('a failed attempt throws retryable, a refused destination non-retryable', async () => {
      const dead = await insertBatch({ url: receiver.url(`/dead/${crypto.randomUUID()}`) });
      const deadDelivery = (await activities().prepareWebhookDelivery(dead, 'batch.completed'))!;
      const retryable = await activities()
        .deliverWebhook(deadDelivery)
        .catch((err: unknown) => err);
      expect(retryable).toBeInstanceOf(ApplicationFailure);
      expect(retryable).toMatchObject({ nonRetryable: false, type: 'WebhookAttemptFailed', message: 'HTTP 503' });

      const strict = createWebhookActivities({ db, config: config({ allowPrivate: false }) });
      const linkLocal = await insertBatch({ url: 'http://169.254.1.1/hook' });
      const refused = await strict.deliverWebhook((await strict.prepareWebhookDelivery(linkLocal, 'batch.completed'))!).catch((err: unknown) => err);
      expect(refused).toMatchObject({ nonRetryable: true, type: 'WebhookDestinationRefused' });
      expect((refused as Error).message).toMatch(/169\.254\.1\.1 is a link-local address/);

      // The metadata service hands out the host's credentials: refused even where private receivers are allowed.
      const permissive = createWebhookActivities({ db, config: config({ allowPrivate: true }) });
      const metadata = await insertBatch({ url: 'http://169.254.169.254/latest/meta-data/' });
      const never = await permissive.deliverWebhook((await permissive.prepareWebhookDelivery(metadata, 'batch.completed'))!).catch((err: unknown) => err);
      expect(never).toMatchObject({ nonRetryable: true, type: 'WebhookDestinationRefused' });
      expect((never as Error).message).toMatch(/169\.254\.169\.254 is a cloud metadata endpoint/);
    });
  });

  describe('webhook on batch create', () => {
    const strict = { allowPrivate: false };
    test('the webhook field or metadata.webhook_url, vetted for SSRF', async () => {
      await expect(vetNewBatchWebhook({ webhook: { url: 'https://8.8.8.8/hook', secret: 's' } }, strict)).resolves.toEqual({
        kind: 'accepted',
        config: { url: 'https://8.8.8.8/hook', secret: 's' },
      });
      await expect(vetNewBatchWebhook({ metadata: { webhook_url: 'http://10.0.0.7/hook' } }, strict)).resolves.toMatchObject({
        kind: 'refused',
        param: 'metadata.webhook_url',
        message: expect.stringMatching(/^Invalid 'metadata.webhook_url': /),
      });
      await expect(vetNewBatchWebhook({ webhook: { url: 'http://localhost:9000/' } }, strict)).resolves.toMatchObject({ kind: 'refused', param: 'webhook.url' });
      await expect(vetNewBatchWebhook({ metadata: { webhook_url: 'javascript:alert(1)' } }, { allowPrivate: true })).resolves.toMatchObject({
        kind: 'refused',
        param: 'metadata.webhook_url',
      });
      await expect(vetNewBatchWebhook({ webhook: { url: 'http://127.0.0.1:9000/' } }, { allowPrivate: true })).resolves.toEqual({
        kind: 'accepted',
        config: { url: 'http://127.0.0.1:9000/' },
      });
      await expect(vetNewBatchWebhook({ metadata: {} }, strict)).resolves.toEqual({ kind: 'accepted', config: null });
    });
  });
});
