import http from 'node:http';
import https from 'node:https';
import { DestinationRefusedError, destinationRefusal, guardedLookup, type Lookup } from './destination';

export const WEBHOOK_USER_AGENT = 'vllm-batch-server-webhooks/1';

type AttemptResult =
  | { outcome: 'delivered'; statusCode: number; error: null; durationMs: number }
  | { outcome: 'failed'; statusCode: number | null; error: string; durationMs: number }
  /** The destination is not allowed: retrying cannot help. */
  | { outcome: 'refused'; statusCode: null; error: string; durationMs: number };

type AttemptOptions = {
  allowPrivate: boolean;
  timeoutMs: number;
  /** The resolver behind the address guard; the system's by default. */
  lookup?: Lookup;
};

/**
 * One delivery attempt: POSTs `body` as JSON and reports how the receiver answered. Any 2xx
 * acknowledges; a 3xx is a failure because redirects are not followed (the redirect target was
 * never vetted). Uses node:http rather than fetch so the address guard sees every connection.
 */
export function sendWebhook(request: { url: string; body: string; headers: Record<string, string> }, options: AttemptOptions): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);

  const refusal = destinationRefusal(request.url, options);
  if (refusal) return Promise.resolve({ outcome: 'refused', statusCode: null, error: `destination refused: ${refusal}`, durationMs: 0 });

  const url = new URL(request.url);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const failed = (error: string, statusCode: number | null = null) => settle({ outcome: 'failed', statusCode, error, durationMs: elapsed() });

    const req = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      headers: {
        ...request.headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(request.body)),
        'user-agent': WEBHOOK_USER_AGENT,
      },
      // A fresh connection per attempt: each one goes through the guard.
      agent: false,
      lookup: guardedLookup(options, options.lookup),
    });
    const timer = setTimeout(() => failed(`no response within ${options.timeoutMs} ms`), options.timeoutMs);

    req.on('response', (res) => {
      // The body is not read; destroying the request below may abort it mid-way, harmlessly.
      res.on('error', () => undefined);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) settle({ outcome: 'delivered', statusCode: status, error: null, durationMs: elapsed() });
      else if (status >= 300 && status < 400) failed(`redirect (HTTP ${status}) not followed`, status);
      else failed(`HTTP ${status}`, status);
    });
    req.on('error', (err) => {
      if (err instanceof DestinationRefusedError) {
        settle({ outcome: 'refused', statusCode: null, error: `destination refused: ${err.message}`, durationMs: elapsed() });
      } else {
        failed(err.message);
      }
    });
    req.end(request.body);
  });
}
