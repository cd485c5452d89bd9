import { BackendPool } from './backends';
import { abortableSleep, parseRetryAfter, retryDelayMs, type RetryPolicy } from './retry';

/** What one request finally came to: an HTTP response (any status), or no usable response at all. */
export type InferenceOutcome =
  | { kind: 'response'; statusCode: number; body: unknown; requestId: string | null }
  | { kind: 'error'; code: string; message: string };

type Attempt =
  | { final: true; outcome: InferenceOutcome }
  | { final: false; code: string; message: string; retryAfterMs?: number };

export type InferenceClientOptions = {
  pool: BackendPool;
  apiKey: string | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
};

/**
 * Sends OpenAI-style requests to the backend pool. Transient failures (429, 5xx, connection errors,
 * timeouts, unparseable 2xx bodies) are retried with backoff; any other status is final.
 */
export class InferenceClient {
  constructor(private readonly options: InferenceClientOptions) {}

  get pool(): BackendPool {
    return this.options.pool;
  }

  /** `url` is the batch endpoint as in the input file, e.g. `/v1/chat/completions`. */
  async execute(url: string, body: unknown, signal: AbortSignal): Promise<InferenceOutcome> {
    const { retry } = this.options;
    for (let attempt = 1; ; attempt++) {
      const result = await this.attempt(url, body, signal);
      if (result.final) return result.outcome;
      if (attempt >= retry.maxAttempts) {
        return { kind: 'error', code: result.code, message: `${result.message} (gave up after ${attempt} attempts)` };
      }
      await abortableSleep(retryDelayMs(retry, attempt, result.retryAfterMs), signal);
    }
  }

  private async attempt(url: string, body: unknown, signal: AbortSignal): Promise<Attempt> {
    const { backend, release } = await this.options.pool.acquire(signal);
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const response = await fetch(backendUrl(backend.baseUrl, url), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.any([signal, timeout]),
      });
      const text = await response.text();
      const requestId = response.headers.get('x-request-id');
      if (response.status === 429 || response.status >= 500) {
        return {
          final: false,
          code: response.status === 429 ? 'rate_limited' : 'server_error',
          message: `backend answered ${response.status}`,
          retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
        };
      }
      const parsed = parseJson(text);
      if (response.ok && parsed === undefined) {
        return { final: false, code: 'malformed_response', message: 'backend returned a body that is not JSON' };
      }
      return {
        final: true,
        outcome: { kind: 'response', statusCode: response.status, body: parsed ?? { error: { message: text } }, requestId },
      };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (timeout.aborted) {
        return { final: false, code: 'timeout', message: `no response within ${this.options.timeoutMs} ms` };
      }
      return { final: false, code: 'connection_error', message: `could not reach backend: ${describe(err)}` };
    } finally {
      release();
    }
  }
}

/** `http://gpu:8000/v1` + `/v1/chat/completions` → `http://gpu:8000/v1/chat/completions`. */
export function backendUrl(baseUrl: string, endpoint: string): string {
  const path = endpoint.replace(/^\/v1(?=\/)/, '');
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}
