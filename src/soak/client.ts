import OpenAI from 'openai';
import { keepTrying } from '../transientFailures';
import type { CallLog } from './calls';

/** How long one call may take before the client gives up on it (a paused process holds calls open). */
const CALL_TIMEOUT_MS = 20_000;

/** An answer that is not 2xx, with the API's error code when it sent one. */
export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** A call the server may or may not have carried out: the connection failed, or the answer was a 5xx. */
export function isAmbiguous(err: unknown): boolean {
  return !(err instanceof ApiCallError) || err.status >= 500;
}

/**
 * One tenant's view of the API through the load balancer, as a user's code has it: the official
 * openai SDK (with its own retries) for files and batches, and plain HTTP for the extensions. Every
 * call goes through the soak's CallLog.
 */
export class TenantClient {
  readonly openai: OpenAI;

  constructor(
    readonly tenant: string,
    readonly apiKey: string,
    readonly baseUrl: string,
    private readonly calls: CallLog,
  ) {
    this.openai = new OpenAI({ apiKey, baseURL: `${baseUrl}/v1`, maxRetries: 8, timeout: CALL_TIMEOUT_MS, fetch: calls.fetch });
  }

  /**
   * A call to `path` (under /v1) answered with JSON. `idempotent` calls (reads, and writes carrying an
   * Idempotency-Key) are retried through outages for up to `keepTryingMs`; others are tried once, and
   * a failure that leaves their effect unknown is the caller's to record (isAmbiguous).
   */
  async json<T>(
    method: 'GET' | 'POST',
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; idempotent: boolean; keepTryingMs?: number },
  ): Promise<T> {
    const attempt = async () => {
      const response = await this.calls.fetch(`${this.baseUrl}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${this.apiKey}`, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      const text = await response.text();
      if (!response.ok) {
        let code: string | null = null;
        try {
          code = (JSON.parse(text) as { error?: { code?: string | null } }).error?.code ?? null;
        } catch {
          // Not OpenAI-shaped (a load balancer's 502 page): the status says enough.
        }
        throw new ApiCallError(response.status, code, `${method} ${path}: ${response.status} ${text.slice(0, 200)}`);
      }
      return JSON.parse(text) as T;
    };
    if (!options.idempotent) return attempt();
    return keepTrying(
      options.keepTryingMs ?? 120_000,
      attempt,
      { initialDelayMs: 250, maxDelayMs: 5_000 },
      (err) => isAmbiguous(err) || (err instanceof ApiCallError && err.status === 429),
    );
  }
}
