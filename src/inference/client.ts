import { BrokenCircuitError } from 'cockatiel';
import type { BackendPool } from './backends';
import { BackendFailure } from './health';
import type { Claim } from './semaphore';
import { abortableSleep, parseRetryAfter, retryDelayMs, type RetryPolicy } from './retry';

/** What one request finally came to: an HTTP response (any status), or no usable response at all. */
export type InferenceOutcome =
  | { kind: 'response'; statusCode: number; body: unknown; requestId: string | null }
  | { kind: 'error'; code: string; message: string };

type Attempt =
  | { final: true; outcome: InferenceOutcome }
  | {
      final: false;
      code: string;
      message: string;
      retryAfterMs?: number;
      /** The server failed (transport, timeout, 5xx, a broken body): counts toward taking it out of rotation. */
      serverFault: boolean;
      /** The server said it has too much to do (429, 503, a timeout): the depth controller backs off. */
      overload: boolean;
    };

export type InferenceClientOptions = {
  pool: BackendPool;
  apiKey: string | undefined;
  timeoutMs: number;
  retry: RetryPolicy;
};

/**
 * Sends OpenAI-style requests to the backend pool. A request's attempts are spent on failures of
 * the request (a 429, or a server failure while its server stays in rotation: then the server is
 * fine and something about this request is not), retried with backoff; failures that take the
 * server out of rotation are not charged, the request waits for a server instead. Any other
 * status is final.
 */
export class InferenceClient {
  constructor(private readonly options: InferenceClientOptions) {}

  get pool(): BackendPool {
    return this.options.pool;
  }

  /** `url` is the batch endpoint as in the input file, e.g. `/v1/chat/completions`. */
  async execute(url: string, body: unknown, signal: AbortSignal, claim?: Claim): Promise<InferenceOutcome> {
    const { retry } = this.options;
    const payload = JSON.stringify(body);
    for (let charged = 0; ; ) {
      const { backend, release } = await this.options.pool.acquire(signal, claim, modelOf(body));
      let result: Attempt;
      try {
        result = await backend.health.run(async () => {
          const attempt = await this.attempt(backend.baseUrl, url, payload, signal);
          if (!attempt.final && attempt.serverFault) throw new BackendFailure(attempt);
          return attempt;
        });
      } catch (err) {
        if (err instanceof BackendFailure) result = err.detail as Attempt;
        else if (err instanceof BrokenCircuitError) continue; // left rotation before this attempt started
        else throw err;
      } finally {
        release();
      }
      if (result.final) {
        backend.depth.onSuccess();
        return result.outcome;
      }
      if (result.overload) backend.depth.onOverload();
      if (result.serverFault && !backend.health.healthy) continue;
      charged++;
      if (charged >= retry.maxAttempts) {
        return { kind: 'error', code: result.code, message: `${result.message} (gave up after ${charged} attempts)` };
      }
      await abortableSleep(retryDelayMs(retry, charged, result.retryAfterMs), signal);
    }
  }

  private async attempt(baseUrl: string, url: string, payload: string, signal: AbortSignal): Promise<Attempt> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const response = await fetch(backendUrl(baseUrl, url), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: payload,
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
          serverFault: response.status !== 429,
          overload: response.status === 429 || response.status === 503,
        };
      }
      const parsed = parseJson(text);
      if (response.ok && parsed === undefined) {
        return { final: false, code: 'malformed_response', message: 'backend returned a body that is not JSON', serverFault: true, overload: false };
      }
      return {
        final: true,
        outcome: { kind: 'response', statusCode: response.status, body: parsed ?? { error: { message: text } }, requestId },
      };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (timeout.aborted) {
        return { final: false, code: 'timeout', message: `no response within ${this.options.timeoutMs} ms`, serverFault: true, overload: true };
      }
      return { final: false, code: 'connection_error', message: `could not reach backend: ${describe(err)}`, serverFault: true, overload: false };
    }
  }
}

/** `http://gpu:8000/v1` + `/v1/chat/completions` → `http://gpu:8000/v1/chat/completions`. */
export function backendUrl(baseUrl: string, endpoint: string): string {
  const path = endpoint.replace(/^\/v1(?=\/)/, '');
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

const modelOf = (body: unknown) => {
  const model = (body as { model?: unknown } | null)?.model;
  return typeof model === 'string' ? model : undefined;
};

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
