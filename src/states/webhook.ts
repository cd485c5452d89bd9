/**
 * Webhook events, configs and delivery states, defined once (delivery statuses are checked by
 * PostgreSQL too: `webhook_deliveries_status_check`, migration 007). A leaf like ./batch.
 */
import type { BatchStatus, TerminalStatus } from './batch';

export const WEBHOOK_EVENT_TYPES = ['batch.completed', 'batch.failed', 'batch.cancelled', 'batch.expired', 'batch.in_progress'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What a webhook receives when its config names no events: the terminal ones; in_progress is opt-in. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = ['batch.completed', 'batch.failed', 'batch.cancelled', 'batch.expired'];

/** The batch status each event announces. */
export const EVENT_STATUS: Readonly<Record<WebhookEventType, BatchStatus>> = {
  'batch.completed': 'completed',
  'batch.failed': 'failed',
  'batch.cancelled': 'cancelled',
  'batch.expired': 'expired',
  'batch.in_progress': 'in_progress',
};

/** The event that announces each way a batch ends: named after the status, so no second table. */
export const terminalEvent = (status: TerminalStatus) => `batch.${status}` as const satisfies WebhookEventType;

/** What the batch row stores. The secret stays server-side: see `publicWebhookConfig`. */
export type WebhookConfig = { url: string; secret?: string; events?: WebhookEventType[] };

export const subscribedEvents = (config: WebhookConfig): readonly WebhookEventType[] => config.events ?? DEFAULT_WEBHOOK_EVENTS;

export const receivesEvent = (config: WebhookConfig, type: WebhookEventType) => subscribedEvents(config).includes(type);

/** A delivery is pending until its receiver acknowledges it or its attempts run out. */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
