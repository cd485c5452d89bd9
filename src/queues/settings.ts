import { z } from 'zod';
import { BATCH_ENDPOINTS, DEFAULT_COMPLETION_WINDOW, DEFAULT_ENDPOINT } from '../domain/endpoints';
import { MAX_BODY_DEPTH, nestsDeeperThan } from '../batches/lineValidation';
import { completionWindowSeconds } from '../domain/window';
import type { PublishedSettings } from '../config/settings';
import { memberText } from '../jsonText';
import type { WebhookConfig } from '../states/webhook';
import { WebhookConfigSchema } from '../webhooks/config';

/** Every tenant has this queue without creating it; its settings are the QUEUE_* defaults until changed. */
export const DEFAULT_QUEUE = 'default';

export const QueueName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, "_", "." or "-", starting with a letter or digit');

/** A queue's settings, each with its meaning; the OpenAPI document shows these descriptions. */
const settingFields = {
  model: z.string().min(1).describe('Model of the batches; partial requests get it, full ones must name it or none'),
  endpoint: z.enum(BATCH_ENDPOINTS).describe('Endpoint of the batches (default /v1/chat/completions)'),
  request_kwargs: z
    .record(z.string(), z.unknown())
    // Their members become members of each body, which may nest no deeper than this.
    .refine((kwargs) => !nestsDeeperThan(kwargs, MAX_BODY_DEPTH), `must nest at most ${MAX_BODY_DEPTH} levels deep, as a request body`)
    .describe('Merged into every partial request\'s body, e.g. {"max_tokens": 1000, "temperature": 0.2} (langbatch\'s request_kwargs)'),
  queue_threshold: z.number().int().min(1).describe('Dispatch as soon as this many requests are queued'),
  time_threshold: z
    .number()
    .min(0)
    .max(30 * 86_400)
    .describe('Seconds: dispatch once the oldest queued request has waited this long'),
  time_interval: z.number().min(0.1).max(3600).describe('Seconds between checks of the time threshold'),
  completion_window: z
    .string()
    .refine((w) => completionWindowSeconds(w) !== undefined, 'must be 24h or a duration like 90s, 30m, 12h, 7d, at most 30d')
    .describe("The batches' completion window"),
  max_batch_size: z.number().int().min(1).describe('Most requests in one batch (default: queue_threshold)'),
  webhook: WebhookConfigSchema.describe('Notify this URL of the events of the batches the queue creates'),
};

/** Create: every setting optional; an unset one follows its default. */
export const CreateQueueBody = z.strictObject({ name: QueueName, ...optionalFields() });
/** Update: only what is given changes; `null` returns a setting to its default. */
export const UpdateQueueBody = z.strictObject(nullableFields());

function optionalFields() {
  return Object.fromEntries(Object.entries(settingFields).map(([key, schema]) => [key, schema.optional()])) as {
    [K in keyof typeof settingFields]: z.ZodOptional<(typeof settingFields)[K]>;
  };
}
function nullableFields() {
  return Object.fromEntries(Object.entries(settingFields).map(([key, schema]) => [key, schema.nullable().optional()])) as {
    [K in keyof typeof settingFields]: z.ZodOptional<z.ZodNullable<(typeof settingFields)[K]>>;
  };
}

/**
 * Settings as stored in the queue row's jsonb: only those set explicitly, but `request_kwargs`,
 * which is stored as text (migration 014) so its values reach each body exactly as written.
 */
export type QueueSettingsPatch = Partial<{ [K in Exclude<keyof typeof settingFields, 'request_kwargs'>]: z.output<(typeof settingFields)[K]> | null }>;

/** A queue's stored settings: the jsonb ones, and `request_kwargs` as the client wrote it (null: unset). */
export type StoredSettings = { settings: Record<string, unknown>; request_kwargs: string | null };

/**
 * The `request_kwargs` of a create or update body as its text in that body (`bodyText`), so that big
 * integers and nested nulls survive; `given` is the parsed value: undefined when absent, null to unset.
 */
export function requestKwargsText(given: Record<string, unknown> | null | undefined, bodyText: string): string | null | undefined {
  if (given === undefined || given === null) return given;
  const text = memberText(bodyText, 'request_kwargs');
  if (text === undefined) throw new Error('request_kwargs parsed from a body whose text lacks it');
  return text;
}

/** The settings a queue runs with. */
export type QueueSettings = {
  model: string | null;
  endpoint: (typeof BATCH_ENDPOINTS)[number];
  /** An object's JSON text, as written when set. */
  request_kwargs: string;
  queue_threshold: number;
  time_threshold: number;
  time_interval: number;
  completion_window: string;
  max_batch_size: number;
  webhook: WebhookConfig | null;
};

/** The defaults of unset settings: the orchestrator's QUEUE_* (the API reads them as the orchestrator published them). */
export type QueueDefaults = Pick<QueueSettings, 'model' | 'queue_threshold' | 'time_threshold' | 'time_interval' | 'completion_window'> & {
  max_batch_size: number | null;
};

export function queueDefaults(
  s: Pick<
    PublishedSettings,
    | 'QUEUE_MODEL'
    | 'DEFAULT_MODEL'
    | 'QUEUE_THRESHOLD'
    | 'QUEUE_TIME_THRESHOLD_SECONDS'
    | 'QUEUE_TIME_INTERVAL_SECONDS'
    | 'QUEUE_COMPLETION_WINDOW'
    | 'QUEUE_MAX_BATCH_SIZE'
  >,
): QueueDefaults {
  return {
    model: s.QUEUE_MODEL ?? s.DEFAULT_MODEL ?? null,
    queue_threshold: s.QUEUE_THRESHOLD,
    time_threshold: s.QUEUE_TIME_THRESHOLD_SECONDS,
    time_interval: s.QUEUE_TIME_INTERVAL_SECONDS,
    completion_window: s.QUEUE_COMPLETION_WINDOW,
    max_batch_size: s.QUEUE_MAX_BATCH_SIZE ?? null,
  };
}

/** The settings a queue runs with: those set explicitly (as stored, written only from `QueueSettingsPatch`), else the defaults. */
export function effectiveSettings(stored: StoredSettings, defaults: QueueDefaults): QueueSettings {
  const explicit = stored.settings as QueueSettingsPatch;
  const threshold = explicit.queue_threshold ?? defaults.queue_threshold;
  return {
    model: explicit.model ?? defaults.model,
    endpoint: explicit.endpoint ?? DEFAULT_ENDPOINT,
    request_kwargs: stored.request_kwargs ?? '{}',
    queue_threshold: threshold,
    time_threshold: explicit.time_threshold ?? defaults.time_threshold,
    time_interval: explicit.time_interval ?? defaults.time_interval,
    completion_window: explicit.completion_window ?? defaults.completion_window ?? DEFAULT_COMPLETION_WINDOW,
    max_batch_size: explicit.max_batch_size ?? defaults.max_batch_size ?? threshold,
    webhook: explicit.webhook ?? null,
  };
}
