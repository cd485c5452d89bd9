import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export type ReceivedRequest = { method: string; path: string; headers: http.IncomingHttpHeaders; body: string };

/**
 * How the receiver answers a request, `seen` being how many requests its path has had, this one
 * included: a status code to answer with an empty body, or nothing once it has answered on `res` itself.
 */
export type Answer = (req: http.IncomingMessage, res: http.ServerResponse, seen: number) => number | void;

/** Paths under /flaky fail their first two requests, /dead always fails, everything else acknowledges. */
export const flakyOrDead: Answer = (req, _res, seen) => {
  if (req.url!.startsWith('/dead')) return 503;
  if (req.url!.startsWith('/flaky') && seen <= 2) return 500;
  return 200;
};

export type WebhookReceiver = {
  port: number;
  url(path: string): string;
  /** Every request so far, in arrival order; a test may empty it. */
  requests: ReceivedRequest[];
  /** The requests to `path`, in arrival order. */
  received(path: string): ReceivedRequest[];
  close(): Promise<void>;
};

/** A real webhook receiver on 127.0.0.1 that records each request whole and answers as `answer` says. */
export async function startWebhookReceiver(answer: Answer): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const received = (path: string) => requests.filter((r) => r.path === path);
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      const status = answer(req, res, received(req.url!).length);
      if (typeof status === 'number') res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The HMAC key a secret stands for: base64 after `whsec_`, else the secret's own bytes. */
const signingKey = (secret: string) => (secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret));

/** X-Webhook-Signature (hex HMAC-SHA256 of the body) as the seed guide's receiver checks it, written out independently. */
export function hexSignatureValid(request: Pick<ReceivedRequest, 'headers' | 'body'>, secret: string): boolean {
  const expected = crypto.createHmac('sha256', signingKey(secret)).update(Buffer.from(request.body, 'utf8')).digest('hex');
  return request.headers['x-webhook-signature'] === expected;
}

/** The Standard Webhooks signature, checked with the `standardwebhooks` library. */
export function standardSignatureValid(request: Pick<ReceivedRequest, 'headers' | 'body'>, secret: string): boolean {
  const webhook = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(signingKey(secret), { format: 'raw' });
  try {
    webhook.verify(request.body, request.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}
