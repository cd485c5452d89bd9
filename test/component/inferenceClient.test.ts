import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BackendPool } from '../../src/inference/backends';
import { backendTarget } from '../../src/inference/target';
import { InferenceClient, type InferenceOutcome } from '../../src/inference/client';
import { inferenceRequest } from '../support/fixtures';
import { waitFor } from '../support/wait';

const MODEL = 'bytes-model';

/** A backend that answers each completion with the status and bytes the test gives for its prompt. */
async function backend(answers: Record<string, { status: number; text: string; delayMs?: number }>): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/v1/models') {
      res.end(JSON.stringify({ object: 'list', data: [{ id: MODEL, object: 'model' }] }));
      return;
    }
    // Health probes and metrics scrapes (GET, no body) find nothing here.
    if (req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const prompt = (JSON.parse(raw) as { prompt?: string }).prompt ?? '';
      const answer = answers[prompt];
      if (!answer) res.writeHead(404).end();
      else setTimeout(() => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text), answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A client of one backend, once the backend is in rotation. */
async function clientOf(baseUrl: string, attempts: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number }) {
  const pool = new BackendPool([backendTarget(baseUrl, undefined)], {
    maxDepth: 4,
    health: { failureThreshold: 2, probeIntervalMs: 50, maxProbeIntervalMs: 200 },
  });
  pool.start();
  const client = new InferenceClient({ pool, timeoutMs: 2_000, attempts });
  await waitFor(() => pool.serving(MODEL), { timeoutMs: 5_000 });
  return { pool, client };
}

describe('InferenceClient response bodies', () => {
  test('a JSON body is kept as the backend sent it; a pretty-printed one is written on one line; a non-JSON one is wrapped', async () => {
    const compact = '{"id": "cmpl-1",  "choices": [{"text": "é \\u0000 \\ud800"}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}';
    const pretty = JSON.stringify({ id: 'cmpl-2', usage: { prompt_tokens: 1, completion_tokens: 2 } }, null, 2);
    const server = await backend({
      compact: { status: 200, text: compact },
      pretty: { status: 200, text: pretty },
      refused: { status: 400, text: 'max_tokens is too large' },
    });
    const { pool, client } = await clientOf(server.baseUrl, { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 20 });
    try {
      const send = async (prompt: string) => {
        const outcome: InferenceOutcome = await client.execute('/v1/completions', inferenceRequest({ model: MODEL, prompt }), new AbortController().signal);
        if (outcome.kind !== 'response') throw new Error(`no response: ${outcome.message}`);
        return outcome;
      };

      const kept = await send('compact');
      expect(kept.json).toBe(compact); // byte for byte: spacing, escapes and all
      expect(kept.body).toEqual(JSON.parse(compact));

      const flattened = await send('pretty');
      expect(pretty).toContain('\n');
      expect(flattened.json).not.toMatch(/[\r\n]/);
      expect(JSON.parse(flattened.json)).toEqual(JSON.parse(pretty));

      const wrapped = await send('refused');
      expect(wrapped.statusCode).toBe(400);
      expect(JSON.parse(wrapped.json)).toEqual({ error: { message: 'max_tokens is too large' } });
    } finally {
      await client.close();
      await pool.stop();
      await server.close();
    }
  });
});

describe('InferenceClient hand-back (waitSignal)', () => {
  test('stops a request waiting to be sent again, and lets one at the backend finish', async () => {
    const server = await backend({
      busy: { status: 429, text: '{"error": {"message": "busy"}}' },
      slow: { status: 200, text: '{"id": "cmpl-slow"}', delayMs: 300 },
    });
    // A backoff of a minute: only the hand-back can end the wait after the 429 within the test.
    const { pool, client } = await clientOf(server.baseUrl, { maxAttempts: 3, initialDelayMs: 60_000, maxDelayMs: 60_000 });
    try {
      const handBack = new AbortController();
      const never = new AbortController().signal;
      const retrying = client.execute('/v1/completions', inferenceRequest({ model: MODEL, prompt: 'busy' }), never, undefined, handBack.signal);
      const atBackend = client.execute('/v1/completions', inferenceRequest({ model: MODEL, prompt: 'slow' }), never, undefined, handBack.signal);
      // Both were sent: the 429 has come back (the retry waits), the slow one is still at the backend.
      await waitFor(() => pool.backends[0]!.slots.active === 1, { timeoutMs: 5_000 });
      handBack.abort(new Error('handed back'));
      await expect(retrying).rejects.toThrow('handed back');
      const finished = await atBackend;
      expect(finished.kind === 'response' && finished.statusCode).toBe(200);
    } finally {
      await client.close();
      await pool.stop();
      await server.close();
    }
  });
});
