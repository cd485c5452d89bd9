import type { BatchStatus } from '../store/batches';
import type { WebhookConfig } from './config';

export const WEBHOOK_EVENT_TYPES = [
  'batch.completed',
  'batch.failed',
  'batch.cancelled',
  'batch.expired',
  'batch.in_progress',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What a webhook receives when its config names no events: the terminal ones; in_progress is opt-in. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = [
  'batch.completed',
  'batch.failed',
  'batch.cancelled',
  'batch.expired',
];

/** The batch status each event announces. */
export const EVENT_STATUS: Record<WebhookEventType, BatchStatus> = {
  'batch.completed': 'completed',
  'batch.failed': 'failed',
  'batch.cancelled': 'cancelled',
  'batch.expired': 'expired',
  'batch.in_progress': 'in_progress',
};

export const subscribedEvents = (config: WebhookConfig): readonly WebhookEventType[] =>
  config.events ?? DEFAULT_WEBHOOK_EVENTS;

export const receivesEvent = (config: WebhookConfig, type: WebhookEventType) =>
  subscribedEvents(config).includes(type);
