import { z } from 'zod';
import { resolvedRefusal, type DestinationPolicy } from './destination';
import { isUsableSecret } from './signing';
import { subscribedEvents, WEBHOOK_EVENT_TYPES, type WebhookConfig, type WebhookEventType } from '../states/webhook';

/** A signing secret: any non-empty string, or `whsec_<base64 key>` in the Standard Webhooks form. */
export const WebhookSecret = z.string().min(1).max(256).refine(isUsableSecret, 'a secret starting with whsec_ must be followed by a base64-encoded key');

/** The `webhook` field of a batch create request. */
export const WebhookConfigSchema = z
  .object({
    // Length first: a 10 KB string should hear that it is too long, not that it is no URL.
    url: z
      .string()
      .max(2048, 'must be at most 2048 characters')
      .pipe(z.url({ protocol: /^https?$/, error: 'must be an http or https URL' })),
    secret: WebhookSecret.optional(),
    events: z
      .array(z.enum(WEBHOOK_EVENT_TYPES))
      .min(1)
      .transform((events) => [...new Set(events)])
      .optional(),
  })
  .strict();

/**
 * The batch's webhook from a create request: the `webhook` field, else `metadata.webhook_url`
 * (the seed guide's way, with the default events and the server-wide secret), else none.
 */
export function webhookFromCreateRequest(request: {
  webhook?: z.output<typeof WebhookConfigSchema> | null | undefined;
  metadata?: Record<string, string> | null | undefined;
}): { config: WebhookConfig; param: 'webhook.url' | 'metadata.webhook_url' } | null {
  if (request.webhook) return { config: withoutUndefined(request.webhook), param: 'webhook.url' };
  const url = request.metadata?.webhook_url;
  if (url !== undefined && url !== '') return { config: { url }, param: 'metadata.webhook_url' };
  return null;
}

export type NewBatchWebhook = { kind: 'accepted'; config: WebhookConfig | null } | { kind: 'refused'; param: 'webhook.url' | 'metadata.webhook_url'; message: string };

/**
 * The webhook of a batch create request, with its destination vetted now: a bad URL is the
 * client's mistake to hear about at once, not a delivery that can never succeed.
 */
export async function vetNewBatchWebhook(request: Parameters<typeof webhookFromCreateRequest>[0], policy: DestinationPolicy): Promise<NewBatchWebhook> {
  const found = webhookFromCreateRequest(request);
  if (!found) return { kind: 'accepted', config: null };
  const refusal = await resolvedRefusal(found.config.url, policy);
  if (refusal) return { kind: 'refused', param: found.param, message: `Invalid '${found.param}': ${refusal}` };
  return { kind: 'accepted', config: found.config };
}

function withoutUndefined(webhook: z.output<typeof WebhookConfigSchema>): WebhookConfig {
  return {
    url: webhook.url,
    ...(webhook.secret !== undefined ? { secret: webhook.secret } : {}),
    ...(webhook.events !== undefined ? { events: webhook.events } : {}),
  };
}

/** The webhook as the Batch object shows it: the effective events, never the secret. */
export function publicWebhookConfig(config: WebhookConfig): { url: string; events: WebhookEventType[] } {
  return { url: config.url, events: [...subscribedEvents(config)] };
}
