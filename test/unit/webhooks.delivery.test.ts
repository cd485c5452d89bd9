import type { Lookup } from '../../src/webhooks/destination';
import { sendWebhook, WEBHOOK_USER_AGENT } from '../../src/webhooks/delivery';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

describe('one webhook delivery attempt', () => {
  let receiver: WebhookReceiver;
  const open = { allowPrivate: true, timeoutMs: 2000 };

  beforeAll(async () => {
    receiver = await startWebhookReceiver((req, res) => {
      if (req.url === '/ok') return void res.writeHead(204).end();
      if (req.url === '/accepted') return void res.writeHead(202, { 'content-type': 'text/plain' }).end('queued');
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/ok' }).end();
      if (req.url === '/error') return void res.writeHead(500).end('boom');
      if (req.url === '/slow') {
        const timer = setTimeout(() => res.writeHead(200).end(), 3000);
        return void res.on('close', () => clearTimeout(timer));
      }
      res.writeHead(404).end();
    });
  });
  beforeEach(() => receiver.requests.splice(0));
  afterAll(() => receiver.close());

  const body = JSON.stringify({ id: 'evt_1', event: 'batch.completed', text: 'ünïcödé' });
  const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': '1700000000', 'X-Webhook-Signature': 'ab'.repeat(32) };

  test('POSTs the exact body as JSON with the given headers; a 2xx acknowledges', async () => {
    const result = await sendWebhook({ url: receiver.url('/ok'), body, headers }, open);
    expect(result).toEqual({ outcome: 'delivered', statusCode: 204, error: null, durationMs: expect.any(Number) });
    const [request] = receiver.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/ok', body });
    expect(request!.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': WEBHOOK_USER_AGENT,
      'webhook-id': 'evt_1',
      'webhook-timestamp': '1700000000',
      'x-webhook-signature': 'ab'.repeat(32),
    });
    expect((await sendWebhook({ url: receiver.url('/accepted'), body, headers }, open)).outcome).toBe('delivered');
  });

  test('a redirect is a failed attempt and is not followed', async () => {
    const result = await sendWebhook({ url: receiver.url('/redirect'), body, headers }, open);
    expect(result).toMatchObject({ outcome: 'failed', statusCode: 302, error: 'redirect (HTTP 302) not followed' });
    expect(receiver.requests.map((r) => r.path)).toEqual(['/redirect']);
  });

  test('a 5xx or 4xx is a failed attempt', async () => {
    expect(await sendWebhook({ url: receiver.url('/error'), body, headers }, open)).toMatchObject({
      outcome: 'failed',
      statusCode: 500,
      error: 'HTTP 500',
    });
    expect(await sendWebhook({ url: receiver.url('/missing'), body, headers }, open)).toMatchObject({ outcome: 'failed', statusCode: 404 });
  });

  test('a receiver slower than the attempt timeout fails the attempt at the timeout', async () => {
    const result = await sendWebhook({ url: receiver.url('/slow'), body, headers }, { allowPrivate: true, timeoutMs: 300 });
    expect(result).toMatchObject({ outcome: 'failed', statusCode: null, error: 'no response within 300 ms' });
    expect(result.durationMs).toBeGreaterThanOrEqual(290);
    expect(result.durationMs).toBeLessThan(2000);
  });

  test('a closed port is a failed attempt with the connection error', async () => {
    const closed = await startWebhookReceiver(() => undefined);
    const url = closed.url('/x');
    await closed.close();
    expect(await sendWebhook({ url, body, headers }, open)).toMatchObject({
      outcome: 'failed',
      statusCode: null,
      error: expect.stringContaining('ECONNREFUSED'),
    });
  });

  describe('with private destinations not allowed', () => {
    const strict = { allowPrivate: false, timeoutMs: 2000 };

    test.each(['http://127.0.0.1:PORT/ok', 'http://localhost:PORT/ok', 'http://[::ffff:127.0.0.1]:PORT/ok', 'http://2130706433:PORT/ok'])(
      '%s is refused without connecting',
      async (template) => {
        const url = template.replace('PORT', String(receiver.port));
        const result = await sendWebhook({ url, body, headers }, strict);
        expect(result).toMatchObject({ outcome: 'refused', statusCode: null, error: expect.stringMatching(/^destination refused: /) });
        expect(receiver.requests).toEqual([]);
      },
    );

    test('a hostname that resolves to loopback is refused after resolution (DNS rebinding)', async () => {
      let resolved = 0;
      const rebinding: Lookup = (_hostname, options, callback) => {
        resolved++;
        const answer = { address: '127.0.0.1', family: 4 };
        if (options.all) callback(null, [answer]);
        else callback(null, answer.address, answer.family);
      };
      const url = `http://hooks.example.test:${receiver.port}/ok`;
      const result = await sendWebhook({ url, body, headers }, { ...strict, lookup: rebinding });
      expect(result).toMatchObject({ outcome: 'refused', error: expect.stringContaining('hooks.example.test resolves to 127.0.0.1') });
      expect(resolved).toBe(1);
      expect(receiver.requests).toEqual([]);

      // The same resolver with private destinations allowed does connect: the guard was the only obstacle.
      const allowed = await sendWebhook({ url, body, headers }, { ...open, lookup: rebinding });
      expect(allowed.outcome).toBe('delivered');
      expect(receiver.requests).toHaveLength(1);
    });
  });
});
