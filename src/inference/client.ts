import { BrokenCircuitError } from 'cockatiel';
import { Agent, errors as undiciErrors } from 'undici';
import type { BackendPool } from './backends';
import { AbortFanOut } from './abortFanOut';
import { BackendFailure } from './health';
import { backendRequestDuration, backendRetries } from '../metrics/instruments';
import type { Claim } from './semaphore';
import { abortableSleep, parseRetryAfter, backoffMs, type AttemptPolicy } from './requestAttempts';
import { authorizationHeader, type BackendTarget } from './target';

/** What one request finally came to: an HTTP response (any status), or no usable response at all. */
export type InferenceOutcome =
  | {
      kind: 'response';
      statusCode: number;
      body: unknown;
      /** `body` as one line of JSON text: the backend's own bytes when they are that, so they are stored without re-serialising. */
      json: string;
      requestId: string | null;
    }
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
  timeoutMs: number;
  attempts: AttemptPolicy;
};

/**
 * Sends OpenAI-style requests to the backend pool. A request's attempts are spent on failures of
 * the request (a 429, or a server failure after which the server still answers a probe: then the
 * server is fine and something about this request is not), retried with backoff; server failures
 * of an outage (the server left rotation since the attempt was sent, or does not answer) are not
 * charged, the request waits for a server instead. Any other status is final.
 *
 * Requests go through undici's `request` on the client's own connection pool, not `fetch`: at a
 * thousand requests a second fetch's web streams, body clones and per-request abort signals cost
 * the GPU worker about a third of its CPU (measured with `BENCH_CPU_PROFILE_DIR`, README: Benchmarks).
 */
export class InferenceClient {
  /** Keep-alive connections to every backend, as many as requests in flight (the depth controller bounds those). */
  private readonly agent = new Agent({ keepAliveTimeout: 30_000 });
  /** The requests of a chunk share its signal; each gets its own, fed by one listener on the chunk's. */
  private readonly aborts = new AbortFanOut();
  private readonly targets = new Map<string, { origin: string; path: string }>();

  constructor(private readonly options: InferenceClientOptions) {}

  get pool(): BackendPool {
    return this.options.pool;
  }

  /** Closes the connections once the requests in flight are answered. */
  close(): Promise<void> {
    return this.agent.close();
  }

  /** Where `url` goes on a backend, worked out once per backend and endpoint rather than per request. */
  private target(baseUrl: string, url: string): { origin: string; path: string } {
    const key = `${baseUrl} ${url}`;
    let target = this.targets.get(key);
    if (!target) this.targets.set(key, (target = backendTarget(baseUrl, url)));
    return target;
  }

  /**
   * `url` is the batch endpoint as in the input file, e.g. `/v1/chat/completions`; `request.text` the
   * body's JSON text, sent as it is; `request.model` the model it names, which picks the backends.
   * `waitSignal` (default `signal`) also aborts it while it waits for a slot, before its first
   * attempt or between attempts (after a failure, or after its server went down with it): it is
   * running nowhere then, and goes back whole. At a backend, only `signal` stops it.
   */
  async execute(
    url: string,
    request: { text: string; model: string | undefined },
    signal: AbortSignal,
    claim?: Claim,
    waitSignal: AbortSignal = signal,
  ): Promise<InferenceOutcome> {
    const { attempts } = this.options;
    const payload = request.text;
    for (let charged = 0; ;) {
      const { backend, release } = await this.options.pool.acquire(waitSignal, claim, request.model, url);
      const inFlight = backend.slots.active;
      const sentAt = performance.now();
      let result: Attempt;
      try {
        result = await backend.health.run(async () => {
          const attempt = await this.attempt(backend, url, payload, signal);
          backendRequestDuration.observe({ backend: backend.label, outcome: attemptOutcome(attempt) }, (performance.now() - sentAt) / 1000);
          if (!attempt.final && attempt.serverFault) throw new BackendFailure(attempt);
          return attempt;
        });
      } catch (err) {
        if (err instanceof BackendFailure) result = err.detail as Attempt;
        else if (err instanceof BrokenCircuitError)
          continue; // left rotation before this attempt started
        else throw err;
      } finally {
        release();
      }
      if (result.final) {
        // Only a success took the backend's full work: an error answer's latency says nothing of its queue.
        if (succeeded(result.outcome)) {
          const at = performance.now();
          backend.depth.onCompletion({ at, latencyMs: at - sentAt, inFlight });
        }
        return result.outcome;
      }
      const outage = result.serverFault && (await backend.health.whoseFailure(sentAt, signal)) === 'server';
      if (outage) {
        backendRetries.inc({ cause: result.code, charged: 'false' });
        // An outage, not charged. Until the breaker takes the server out of rotation, pace the
        // attempts as retries: a server that fails its probes but not every request must not spin us.
        if (backend.health.healthy) await abortableSleep(backoffMs(attempts, Math.max(1, charged)), waitSignal);
        continue;
      }
      // An overload the server answered with, not an outage: it runs too much at once.
      if (result.overload) backend.depth.onOverload();
      charged++;
      if (charged >= attempts.maxAttempts) {
        return { kind: 'error', code: result.code, message: `${result.message} (gave up after ${charged} attempts)` };
      }
      backendRetries.inc({ cause: result.code, charged: 'true' });
      await abortableSleep(backoffMs(attempts, charged, result.retryAfterMs), waitSignal);
    }
  }

  private async attempt(target: BackendTarget, url: string, payload: string, signal: AbortSignal): Promise<Attempt> {
    const { timeoutMs } = this.options;
    const abort = this.aborts.child(signal);
    try {
      const response = await this.agent.request({
        ...this.target(target.baseUrl, url),
        method: 'POST',
        headers: { 'content-type': 'application/json', ...authorizationHeader(target) },
        body: payload,
        signal: abort.signal,
        // A non-streamed completion's headers come when it is done: the wait for them is the request's time.
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await response.body.text();
      const status = response.statusCode;
      const requestId = header(response.headers['x-request-id']);
      if (status === 429 || status >= 500) {
        return {
          final: false,
          code: status === 429 ? 'rate_limited' : 'server_error',
          message: `backend answered ${status}`,
          retryAfterMs: parseRetryAfter(header(response.headers['retry-after'])),
          serverFault: status !== 429,
          overload: status === 429 || status === 503,
        };
      }
      const parsed = parseJson(text);
      const ok = status >= 200 && status < 300;
      if (ok && parsed === undefined) {
        return { final: false, code: 'malformed_response', message: 'backend returned a body that is not JSON', serverFault: true, overload: false };
      }
      if (parsed === undefined) {
        const body = { error: { message: text } };
        return { final: true, outcome: { kind: 'response', statusCode: status, body, json: JSON.stringify(body), requestId } };
      }
      // An output file has one line per request: a pretty-printed body is written compact.
      const json = text.includes('\n') || text.includes('\r') ? JSON.stringify(parsed) : text;
      return { final: true, outcome: { kind: 'response', statusCode: status, body: parsed, json, requestId } };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
        return { final: false, code: 'timeout', message: `no response within ${timeoutMs} ms`, serverFault: true, overload: true };
      }
      return { final: false, code: 'connection_error', message: `could not reach backend: ${describe(err)}`, serverFault: true, overload: false };
    } finally {
      abort.done();
    }
  }
}

/** `http://gpu:8000/v1` + `/v1/chat/completions` → origin `http://gpu:8000`, path `/v1/chat/completions`. */
function backendTarget(baseUrl: string, endpoint: string): { origin: string; path: string } {
  const target = new URL(`${baseUrl.replace(/\/+$/, '')}${endpoint.replace(/^\/v1(?=\/)/, '')}`);
  return { origin: target.origin, path: `${target.pathname}${target.search}` };
}

const succeeded = (outcome: InferenceOutcome) => outcome.kind === 'response' && outcome.statusCode >= 200 && outcome.statusCode < 300;

/** The attempt's outcome as vbs_backend_request_duration_seconds labels it. */
function attemptOutcome(attempt: Attempt): string {
  if (!attempt.final) return attempt.code;
  const { outcome } = attempt;
  if (outcome.kind === 'error') return outcome.code;
  return succeeded(outcome) ? 'ok' : 'client_error';
}

const header = (value: string | string[] | undefined): string | null => (Array.isArray(value) ? value[0] : value) ?? null;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  const { code, message, cause } = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return cause?.code ?? code ?? cause?.message ?? message ?? String(err);
}
