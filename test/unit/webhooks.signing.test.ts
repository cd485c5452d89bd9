import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { isUsableSecret, signingKey, webhookHeaders } from '../../src/webhooks/signing';

/** The receiver side, written out independently of src/webhooks/signing.ts. */
function receiverKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.substring(6), 'base64') : Buffer.from(secret, 'utf8');
}
function verifyHex(rawBody: Buffer, secret: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = crypto.createHmac('sha256', receiverKey(secret)).update(rawBody).digest();
  const given = Buffer.from(header, 'hex');
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}
function verifyStandard(rawBody: Buffer, secret: string, headers: Record<string, string>): boolean {
  const signedContent = Buffer.concat([Buffer.from(`${headers['webhook-id']}.${headers['webhook-timestamp']}.`), rawBody]);
  const expected = crypto.createHmac('sha256', receiverKey(secret)).update(signedContent).digest('base64');
  return (headers['webhook-signature'] ?? '').split(' ').some((s) => s === `v1,${expected}`);
}

const now = () => Math.floor(Date.now() / 1000);

describe('webhook signatures', () => {
  test('X-Webhook-Signature is the lowercase hex HMAC-SHA256 of the body (RFC-style known vector)', () => {
    const headers = webhookHeaders({ body: 'The quick brown fox jumps over the lazy dog', secret: 'key', eventId: 'evt_1', timestamp: 1 });
    expect(headers['X-Webhook-Signature']).toBe('f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
  });

  test('webhook-signature matches the Standard Webhooks specification test vector', () => {
    const headers = webhookHeaders({
      body: '{"test": 2432232314}',
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      eventId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330,
    });
    expect(headers).toMatchObject({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  test.each([
    ['a plain secret (its UTF-8 bytes are the key)', 'plain-sëcret-✓'],
    ['a whsec_ secret (base64 key after the prefix)', `whsec_${crypto.randomBytes(32).toString('base64')}`],
  ])('both schemes verify independently with %s, and with the standardwebhooks library', (_name, secret) => {
    const body = JSON.stringify({ id: 'evt_x', event: 'batch.completed', note: 'héllo ✓' });
    const headers = webhookHeaders({ body, secret, eventId: 'evt_x', timestamp: now() });
    const raw = Buffer.from(body, 'utf8');
    expect(headers['X-Webhook-Signature']).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyHex(raw, secret, headers['X-Webhook-Signature'])).toBe(true);
    expect(verifyStandard(raw, secret, headers)).toBe(true);

    // The library takes whsec_ secrets as they are; a plain secret is passed as its raw bytes.
    const library = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' });
    expect(library.verify(body, headers)).toEqual(JSON.parse(body));
  });

  test('a tampered body, event ID or timestamp fails verification', () => {
    const secret = 'whsec_' + crypto.randomBytes(24).toString('base64');
    const body = JSON.stringify({ batch_id: 'batch_1', output_file_id: 'file-abc' });
    // Tampered relative to the signed timestamp: `now() - 1` equals it once the clock ticks past a second.
    const signedAt = now();
    const headers = webhookHeaders({ body, secret, eventId: 'evt_2', timestamp: signedAt });
    const tampered = body.replace('file-abc', 'file-evil');
    expect(verifyHex(Buffer.from(tampered), secret, headers['X-Webhook-Signature'])).toBe(false);
    expect(verifyStandard(Buffer.from(tampered), secret, headers)).toBe(false);
    expect(verifyStandard(Buffer.from(body), secret, { ...headers, 'webhook-id': 'evt_other' })).toBe(false);
    expect(verifyStandard(Buffer.from(body), secret, { ...headers, 'webhook-timestamp': String(signedAt - 1) })).toBe(false);
    expect(() => new Webhook(secret).verify(tampered, headers)).toThrow();
    expect(verifyHex(Buffer.from(body), 'another-secret', headers['X-Webhook-Signature'])).toBe(false);
  });

  test('without a secret only the identifying headers are sent', () => {
    expect(webhookHeaders({ body: '{}', secret: undefined, eventId: 'evt_3', timestamp: 1700000000 })).toEqual({
      'webhook-id': 'evt_3',
      'webhook-timestamp': '1700000000',
    });
  });

  test('key rules and secret validation', () => {
    expect(signingKey('abc')).toEqual(Buffer.from('abc'));
    expect(signingKey('whsec_AAEC')).toEqual(Buffer.from([0, 1, 2]));
    expect(isUsableSecret('anything')).toBe(true);
    expect(isUsableSecret('whsec_AAEC')).toBe(true);
    expect(isUsableSecret('whsec_')).toBe(false);
    expect(isUsableSecret('whsec_not base64!')).toBe(false);
    expect(isUsableSecret('')).toBe(false);
  });
});
