import { toBatchObject } from '../../src/batches/object';
import type { BatchRow } from '../../src/store/batches';
import { publicWebhookConfig, WebhookConfigSchema, WebhookSecret, webhookFromCreateRequest } from '../../src/webhooks/config';
import { DEFAULT_WEBHOOK_EVENTS, receivesEvent, WEBHOOK_EVENT_TYPES } from '../../src/states/webhook';
import { buildWebhookEvent } from '../../src/webhooks/payload';

const created = new Date('2026-01-01T00:00:00Z');
// Cast: columns the batch row may gain later do not matter to the event.
const batch = {
  id: 'batch_abc',
  tenant_id: 'default',
  endpoint: '/v1/chat/completions',
  model: 'sim-llama-3.1-8b-instruct',
  input_file_id: 'file-in',
  completion_window: '24h',
  status: 'completed',
  final_status: 'completed',
  output_expires_after_seconds: null,
  requests_purged_at: null,
  results_purged_at: null,
  output_file_id: 'file-out',
  error_file_id: null,
  errors: null,
  metadata: { project: 'x' },
  queue: null,
  retry_of: null,
  chunk_count: 1,
  total_requests: 3,
  completed_requests: 3,
  failed_requests: 0,
  input_tokens: 30,
  output_tokens: 12,
  created_at: created,
  in_progress_at: new Date('2026-01-01T00:00:01Z'),
  expires_at: new Date('2026-01-02T00:00:00Z'),
  finalizing_at: new Date('2026-01-01T00:00:05Z'),
  completed_at: new Date('2026-01-01T00:00:06Z'),
  failed_at: null,
  expired_at: null,
  cancelling_at: null,
  cancelled_at: null,
  webhook: null,
} as BatchRow;

describe('webhook events', () => {
  test('the four terminal events are the default; in_progress is opt-in; an events list overrides', () => {
    expect(DEFAULT_WEBHOOK_EVENTS).toEqual(['batch.completed', 'batch.failed', 'batch.cancelled', 'batch.expired']);
    const byDefault = { url: 'https://h.example/' };
    expect(WEBHOOK_EVENT_TYPES.filter((t) => receivesEvent(byDefault, t))).toEqual(DEFAULT_WEBHOOK_EVENTS);
    const chosen = { url: 'https://h.example/', events: ['batch.in_progress' as const, 'batch.failed' as const] };
    expect(WEBHOOK_EVENT_TYPES.filter((t) => receivesEvent(chosen, t))).toEqual(['batch.failed', 'batch.in_progress']);
  });

  test('the body has the documented shape, with the Batch object as data', () => {
    const event = buildWebhookEvent(batch, 'batch.completed', { id: 'evt_1', createdAt: new Date('2026-01-01T00:00:07.900Z') });
    expect(event).toEqual({
      id: 'evt_1',
      object: 'event',
      type: 'batch.completed',
      event: 'batch.completed',
      created_at: Math.floor(Date.parse('2026-01-01T00:00:07Z') / 1000),
      batch_id: 'batch_abc',
      status: 'completed',
      output_file_id: 'file-out',
      error_file_id: null,
      request_counts: { total: 3, completed: 3, failed: 0 },
      data: toBatchObject(batch),
    });
    expect(event.data).toMatchObject({ id: 'batch_abc', object: 'batch', usage: { total_tokens: 42 } });
  });

  test('status is the one the event announces', () => {
    const failed = buildWebhookEvent({ ...batch, status: 'failed' }, 'batch.failed', { id: 'evt_2', createdAt: created });
    expect(failed.status).toBe('failed');
    const started = buildWebhookEvent(batch, 'batch.in_progress', { id: 'evt_3', createdAt: created });
    expect(started.status).toBe('in_progress');
  });
});

describe('webhook config on batch create', () => {
  test('accepts url, secret and events; deduplicates events', () => {
    const parsed = WebhookConfigSchema.parse({
      url: 'https://hooks.example.com/b',
      secret: 'whsec_AAEC',
      events: ['batch.completed', 'batch.completed', 'batch.in_progress'],
    });
    expect(parsed).toEqual({ url: 'https://hooks.example.com/b', secret: 'whsec_AAEC', events: ['batch.completed', 'batch.in_progress'] });
  });

  test.each([
    [{ url: 'ftp://hooks.example.com/' }, 'url'],
    [{ url: 'not a url' }, 'url'],
    [{}, 'url'],
    [{ url: 'https://h.example/', events: [] }, 'events'],
    [{ url: 'https://h.example/', events: ['batch.exploded'] }, 'events.0'],
    [{ url: 'https://h.example/', secret: '' }, 'secret'],
    [{ url: 'https://h.example/', secret: 'whsec_***' }, 'secret'],
    [{ url: 'https://h.example/', headers: {} }, ''],
  ])('rejects %j (at %s)', (value, path) => {
    const result = WebhookConfigSchema.safeParse(value);
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path.join('.')).toBe(path);
  });

  test('WEBHOOK_SECRET-style secrets validate the same way', () => {
    expect(WebhookSecret.safeParse('s3cret').success).toBe(true);
    expect(WebhookSecret.safeParse('whsec_').success).toBe(false);
  });

  test('the webhook field wins over metadata.webhook_url, which is the fallback', () => {
    expect(webhookFromCreateRequest({})).toBeNull();
    expect(webhookFromCreateRequest({ metadata: { project: 'x' } })).toBeNull();
    expect(webhookFromCreateRequest({ metadata: { webhook_url: 'https://a.example/' } })).toEqual({
      config: { url: 'https://a.example/' },
      param: 'metadata.webhook_url',
    });
    const webhook = WebhookConfigSchema.parse({ url: 'https://b.example/', events: ['batch.failed'] });
    expect(webhookFromCreateRequest({ webhook, metadata: { webhook_url: 'https://a.example/' } })).toEqual({
      config: { url: 'https://b.example/', events: ['batch.failed'] },
      param: 'webhook.url',
    });
  });

  test('the public view shows the effective events and never the secret', () => {
    expect(publicWebhookConfig({ url: 'https://a.example/', secret: 'top-secret' })).toEqual({
      url: 'https://a.example/',
      events: ['batch.completed', 'batch.failed', 'batch.cancelled', 'batch.expired'],
    });
  });
});
