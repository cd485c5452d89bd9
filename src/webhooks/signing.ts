import crypto from 'node:crypto';

const STANDARD_WEBHOOKS_PREFIX = 'whsec_';

/**
 * The HMAC key of a secret: its UTF-8 bytes, except that a `whsec_…` secret is the base64 of the
 * key (the Standard Webhooks convention), so receivers can pass it to those libraries unchanged.
 */
export function signingKey(secret: string): Buffer {
  return secret.startsWith(STANDARD_WEBHOOKS_PREFIX) ? Buffer.from(secret.slice(STANDARD_WEBHOOKS_PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** Whether a `whsec_` secret carries a non-empty base64 key; any other non-empty secret is usable as is. */
export function isUsableSecret(secret: string): boolean {
  if (!secret.startsWith(STANDARD_WEBHOOKS_PREFIX)) return secret.length > 0;
  const encoded = secret.slice(STANDARD_WEBHOOKS_PREFIX.length);
  return encoded.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) && encoded.length % 4 === 0;
}

export type SignedMessage = {
  /** The exact request body; both signatures cover these bytes. */
  body: string;
  secret: string | undefined;
  /** The event ID, constant across attempts so receivers can deduplicate. */
  eventId: string;
  /** Unix seconds of this attempt. */
  timestamp: number;
};

/**
 * Headers identifying and signing one delivery attempt. Without a secret only the identifying
 * headers are sent: an unsigned request must not look signed.
 */
export function webhookHeaders(message: SignedMessage): Record<string, string> {
  const headers: Record<string, string> = {
    'webhook-id': message.eventId,
    'webhook-timestamp': String(message.timestamp),
  };
  if (message.secret === undefined) return headers;
  const key = signingKey(message.secret);
  const hmac = () => crypto.createHmac('sha256', key);
  // What the seed FastAPI guide verifies: the body alone, hex.
  headers['X-Webhook-Signature'] = hmac().update(message.body, 'utf8').digest('hex');
  // Standard Webhooks: id and timestamp are signed too, which defeats replays of old requests.
  const signed = hmac().update(`${message.eventId}.${message.timestamp}.${message.body}`, 'utf8').digest('base64');
  headers['webhook-signature'] = `v1,${signed}`;
  return headers;
}
