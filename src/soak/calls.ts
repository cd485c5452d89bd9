/** One HTTP call to the API through the load balancer, as the client saw it. */
export type CallOutcome = Readonly<{ atMs: number; ok: boolean; kind: string }>;

/**
 * Every call the workload makes through the load balancer, SDK retries included (each attempt is a
 * call): availability is the share answered without a 5xx or a connection error.
 */
export class CallLog {
  readonly calls: CallOutcome[] = [];

  constructor(private readonly startedAt: number) {}

  /** A fetch that records each call's outcome: for the openai SDK (its `fetch` option) and our own calls. */
  readonly fetch: typeof fetch = async (input, init) => {
    const atMs = Date.now() - this.startedAt;
    try {
      const response = await fetch(input, init);
      const failed = response.status >= 500;
      this.calls.push({ atMs, ok: !failed, kind: failed ? await failureKind(response) : String(response.status) });
      return response;
    } catch (err) {
      // An abort by the caller (its own timeout) after a server that did not answer is a failure too.
      this.calls.push({ atMs, ok: false, kind: errorCode(err) });
      throw err;
    }
  };
}

/** `503 temporal_unavailable`, `502`: the status and, when the body is OpenAI-shaped, its code (read from a clone). */
async function failureKind(response: Response): Promise<string> {
  try {
    const body = (await response.clone().json()) as { error?: { code?: string | null } };
    return body.error?.code ? `${response.status} ${body.error.code}` : String(response.status);
  } catch {
    return String(response.status);
  }
}

function errorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause;
  if (cause?.code) return cause.code;
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout';
  return err instanceof Error ? err.name : 'error';
}
