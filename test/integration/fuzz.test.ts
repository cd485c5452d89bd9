import { Client, Connection } from '@temporalio/client';
import fc from 'fast-check';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { ErrorResponse } from '../../src/api/schemas';
import { unique } from '../support/api';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import {
  apiRequest,
  customIdsOf,
  FUZZ_RUNS,
  FUZZ_SEED,
  fuzzParameters,
  hostileString,
  inputFile,
  percentEncode,
  rawRequest,
  rawUpload,
  requestTarget,
  type ApiRequest,
  type Pool,
  type RawRequest,
} from '../support/fuzz';
import { RawConnection, type RawResponse } from '../support/rawHttp';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver';

const MODEL = 'sim-llama-3.1-8b-instruct';
/** Small, so that random big bodies are refused after a few kilobytes. */
const MAX_FILE_BYTES = 64 * 1024;
const MAX_REQUESTS_PER_BATCH = 20;
/** Shares of FUZZ_RUNS: API requests, raw connections, multipart uploads, input files run as batches. */
const SHARE = { api: 1, raw: 1 / 2, multipart: 1 / 4, files: 1 / 8 };
/** Per test: a fixed allowance plus a generous time per generated case. */
const budget = (share: number) => 60_000 + Math.round(FUZZ_RUNS * share * 60);

/** What the server answered: the status (0 when it closed without a word), its Content-Type and body. */
type Answer = { status: number; contentType: string | undefined; body: string };

/**
 * Issue 14: thousands of generated malformed requests and input files against one real service
 * process. It must never exit, never answer a client's mistake with a 5xx, always answer in
 * OpenAI's error shape, and finish every batch it accepted. A failure prints the seed and the
 * shrunk counterexample; FUZZ_SEED and FUZZ_RUNS replay it or run longer (README, Tests).
 */
describe(`fuzzing the API (FUZZ_SEED=${FUZZ_SEED}, FUZZ_RUNS=${FUZZ_RUNS})`, () => {
  const key = unique('sk-fuzz');
  /** Sent by some generated requests: a tenant that owns nothing. */
  const strangerKey = unique('sk-stranger');
  /** Never sent by the fuzzer: the owner of `foreign`. */
  const ownerKey = unique('sk-owner');
  let sut: ServiceUnderTest;
  let client: OpenAI;
  let receiver: WebhookReceiver;
  let origin: string;
  /** Live objects the generated requests name by index; accepted uploads and batches join them. */
  const pools: Record<Pool, string[]> = { file: [], batch: [], delivery: [], queue: ['default', 'fuzz'], request: [] };
  /** Every batch the service accepted: its input as stored, and the events its webhook subscribed to. */
  const accepted = new Map<string, { input: Buffer; webhookEvents: string[] }>();
  /** The one input file generated batch bodies name, kept out of `pools` so that no DELETE takes it away. */
  let inputFileId: string;
  let inputBytes: Buffer;
  /** The other tenant's file: nothing the fuzzer sends with the first key may touch it. */
  let foreign: { id: string; bytes: Buffer };
  const tally = new Map<string, number>();
  const count = (what: string) => tally.set(what, (tally.get(what) ?? 0) + 1);

  beforeAll(async () => {
    receiver = await startWebhookReceiver(() => 200);
    sut = await startServiceUnderTest({
      env: {
        API_KEYS: `${key}:${unique('fuzzer')},${strangerKey}:${unique('stranger')},${ownerKey}:${unique('owner')}`,
        MAX_FILE_BYTES: String(MAX_FILE_BYTES),
        MAX_REQUESTS_PER_BATCH: String(MAX_REQUESTS_PER_BATCH),
        HTTP_IDLE_TIMEOUT_MS: '5000',
        // Generated webhook URLs that pass validation all point at `receiver` on 127.0.0.1, which acknowledges everything.
        WEBHOOK_ALLOW_PRIVATE: 'true',
        // Generated models no worker serves wait this long for one (the grace period's path, kept short) before they fail.
        MODEL_GRACE_SECONDS: '3',
      },
      apiKey: key,
    });
    client = sut.client;
    origin = sut.service.apiUrl.replace(/\/v1$/, '');

    const lines = [chatLine('a', MODEL, 'hello'), chatLine('b', MODEL, 'there')];
    inputBytes = Buffer.from(lines.join('\n') + '\n');
    inputFileId = (await uploadJsonl(client, lines)).id;
    const other = sut.clientAs(ownerKey);
    foreign = { id: (await uploadJsonl(other, [chatLine('x', MODEL, 'mine')])).id, bytes: Buffer.from(chatLine('x', MODEL, 'mine') + '\n') };
    const foreignBatch = await other.batches.create({ input_file_id: foreign.id, endpoint: '/v1/chat/completions', completion_window: '24h' });

    // A finished batch with a delivered webhook, so that ids of every kind name something real.
    const created = await createBatch({ input_file_id: inputFileId, webhook: { url: receiver.url('/fixture') } }, inputBytes);
    const done = await waitForBatch(client, created, (b) => TERMINAL.includes(b.status));
    expect(done.status).toBe('completed');
    const deliveries = await waitFor(
      async () => {
        const list = (await (await get(`/v1/batches/${done.id}/webhook_deliveries`)).json()) as { data: Array<{ id: string; status: string }> };
        return list.data.length > 0 && list.data.every((d) => d.status === 'delivered') && list.data;
      },
      { what: 'the fixture batch webhook delivery' },
    );
    expectEachCustomIdOnce(['a', 'b'], await readJsonl(client, done.output_file_id), await readJsonl(client, done.error_file_id));
    // Ended and accounted for: its output file may now be deleted by a generated request.
    accepted.delete(done.id);
    pools.file.push((await uploadJsonl(client, lines)).id, done.output_file_id!, foreign.id);
    pools.batch.push(done.id, foreignBatch.id);
    pools.delivery.push(...deliveries.map((d) => d.id));
  });

  afterAll(async () => {
    console.log(`fuzz (FUZZ_SEED=${FUZZ_SEED}, FUZZ_RUNS=${FUZZ_RUNS}): ${[...tally].map(([what, n]) => `${what} ${n}`).join(', ')}`);
    // Still the very process started in beforeAll, and it stops cleanly.
    expect(await sut?.stop()).toBe(0);
    await receiver?.close();
  });

  const auth = (k = key) => ({ authorization: `Bearer ${k}` });
  const get = (path: string) => fetch(`${origin}${path}`, { headers: auth() });

  function expectAlive(): void {
    expect({ exitCode: sut.service.child.exitCode, signal: sut.service.child.signalCode }).toEqual({ exitCode: null, signal: null });
  }

  /** The properties every answer to a client has, whatever the client sent. */
  function expectClientAnswer(answer: Answer, options: { bodiless: boolean }): void {
    expectAlive();
    if (answer.status >= 500) throw new Error(`answered ${answer.status}: ${answer.body.slice(0, 1000)}`);
    if (options.bodiless || answer.status === 0) return;
    let parsed: unknown;
    if (answer.status >= 400 || answer.contentType?.startsWith('application/json')) {
      try {
        parsed = JSON.parse(answer.body);
      } catch {
        throw new Error(`answered ${answer.status} with a body that is not JSON: ${answer.body.slice(0, 1000)}`);
      }
    }
    if (answer.status >= 400 && !ErrorResponse.safeParse(parsed).success) {
      throw new Error(`answered ${answer.status} without OpenAI's error shape: ${answer.body.slice(0, 1000)}`);
    }
  }

  /** The last few requests: when one gets no answer, the cause may lie in those before it on the same connection. */
  const recent: string[] = [];

  /** Sends with `fetch` and reads the whole answer; a well-formed request must get one. */
  async function answerOf(url: string, init: RequestInit): Promise<Answer> {
    const sent = `${init.method ?? 'GET'} ${url} (${JSON.stringify(init.headers ?? {})}, body ${init.body instanceof FormData ? 'form' : ((init.body as Buffer | undefined)?.length ?? 0)} bytes)`;
    try {
      const r = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
      const answer = { status: r.status, contentType: r.headers.get('content-type') ?? undefined, body: await r.text() };
      recent.push(`${sent} → ${r.status}`);
      if (recent.length > 5) recent.shift();
      return answer;
    } catch (err) {
      throw new Error(`no answer to ${sent}: ${String((err as Error).cause ?? err)}; the requests before:\n${recent.join('\n')}`);
    }
  }

  /** Sends raw bytes and reads the answer; a request whose framing is incomplete is followed by the client closing its side. */
  async function exchange(request: RawRequest): Promise<RawResponse> {
    const connection = new RawConnection(sut.service.port);
    if (request.complete) connection.write(request.bytes);
    else connection.socket.end(request.bytes);
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the server kept the connection open for 15 s')), 15_000);
    });
    try {
      const response = await Promise.race([connection.response(), stuck]);
      // Only the first answer is the request's: bytes after it answer whatever followed the request on the connection.
      const length = Number(response.headers['content-length']);
      return Number.isSafeInteger(length) ? { ...response, body: Buffer.from(response.body).subarray(0, length).toString() } : response;
    } finally {
      clearTimeout(timer);
      connection.vanish();
    }
  }

  /** Creates a batch of a valid request and records it; returns its id. */
  async function createBatch(body: Record<string, unknown>, input: Buffer): Promise<string> {
    const answer = await answerOf(`${sut.service.apiUrl}/batches`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: '/v1/chat/completions', completion_window: '24h', ...body }),
    });
    if (answer.status !== 200) throw new Error(`a valid batch create was answered ${answer.status}: ${answer.body}`);
    return recordBatch(answer.body, input);
  }

  function recordBatch(body: string, input: Buffer): string {
    const batch = JSON.parse(body) as Batch & { webhook: { events: string[] } | null };
    accepted.set(batch.id, { input, webhookEvents: batch.webhook?.events ?? [] });
    pools.batch.push(batch.id);
    count('batches accepted');
    return batch.id;
  }

  /** An accepted upload: its stored content is read back (the input of its batch) and it is run as a batch. */
  async function runUpload(fileBody: string, extra: Record<string, unknown> = {}): Promise<{ fileId: string; stored: Buffer; batchId: string }> {
    const fileId = (JSON.parse(fileBody) as { id: string }).id;
    const stored = Buffer.from(await (await client.files.content(fileId)).arrayBuffer());
    pools.file.push(fileId);
    return { fileId, stored, batchId: await createBatch({ input_file_id: fileId, ...extra }, stored) };
  }

  test(
    'generated API requests: any method, route, id, query, credentials and body; never a 5xx, always an OpenAI-shaped error',
    async () => {
      const ctx = { inputFileId, model: MODEL, webhookUrl: (path: string) => receiver.url(path) };
      await fc.assert(
        fc.asyncProperty(apiRequest(ctx), async (request: ApiRequest) => {
          const headers: Record<string, string> = {};
          if (request.auth === 'tenant') Object.assign(headers, auth());
          else if (request.auth === 'other-tenant') Object.assign(headers, auth(strangerKey));
          else if (request.auth === 'wrong') Object.assign(headers, auth('sk-wrong'));
          else if (request.auth !== 'none') headers.authorization = request.auth.header;
          if (request.body?.contentType !== undefined) headers['content-type'] = request.body.contentType;
          if (request.body?.contentEncoding !== undefined) headers['content-encoding'] = request.body.contentEncoding;
          if (request.idempotencyKey !== null) headers['idempotency-key'] = request.idempotencyKey;
          const target = requestTarget(request, pools);
          const answer = await answerOf(`${origin}${target}`, { method: request.method, headers, body: request.body?.bytes });
          count('API requests');
          count(`API ${Math.floor(answer.status / 100)}xx`);
          expectClientAnswer(answer, { bodiless: request.method === 'HEAD' });
          // Whatever route spelling got there (Express matches paths case-insensitively), a new object is tracked.
          if (answer.status === 200 && request.method === 'POST') {
            const created = JSON.parse(answer.body) as { id: string; object: string; request_ids?: string[] };
            // A retry's batch reads another input: only batches of the fixture input are checked line by line.
            if (created.object === 'batch' && !target.toLowerCase().includes('/retry') && !accepted.has(created.id)) recordBatch(answer.body, inputBytes);
            if (created.object === 'file') pools.file.push(created.id);
            if (created.object === 'queue') pools.queue.push(created.id);
            if (created.request_ids) pools.request.push(...created.request_ids);
          }
        }),
        fuzzParameters(SHARE.api),
      );
    },
    budget(SHARE.api),
  );

  test(
    'raw connections: random bytes and malformed HTTP; the process lives, every complete request is answered, never with a 5xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(rawRequest(key), async (request) => {
          const response = await exchange(request);
          count('raw connections');
          if (request.complete && response.status === 0) throw new Error(`a complete request went unanswered: ${JSON.stringify(response.body.slice(0, 300))}`);
          expectClientAnswer({ ...response, contentType: response.headers['content-type'] }, { bodiless: request.bodiless });
        }),
        fuzzParameters(SHARE.raw),
      );
    },
    budget(SHARE.raw),
  );

  test(
    'multipart uploads: malformed, truncated, mis-framed; refused with a 4xx or stored and run as a batch',
    async () => {
      await fc.assert(
        fc.asyncProperty(rawUpload(key, inputFile(MODEL)), async (request) => {
          const response = await exchange(request);
          count('multipart uploads');
          if (request.complete && response.status === 0) throw new Error('a complete upload went unanswered');
          expectClientAnswer({ ...response, contentType: response.headers['content-type'] }, { bodiless: false });
          if (response.status === 200) {
            count('multipart uploads stored');
            await runUpload(response.body);
          }
        }),
        fuzzParameters(SHARE.multipart),
      );
    },
    budget(SHARE.multipart),
  );

  test(
    'generated input files: stored byte for byte (or refused as too large), run as batches, some cancelled',
    async () => {
      const fileCase = fc.record({
        file: inputFile(MODEL),
        via: fc.constantFrom('application/jsonl', 'application/x-ndjson', 'multipart'),
        // Long enough to be cut to 255 characters when stored, short enough for a request line (16 KB) and a part header.
        filename: hostileString.map((name) => name.slice(0, 1000)),
        batch: fc.record(
          {
            completion_window: fc.constantFrom('24h', '24h', '24h', '1s', '5s'),
            model: fc.constant(MODEL),
            endpoint: fc.constantFrom('/v1/chat/completions', '/v1/chat/completions', '/v1/chat/completions', '/v1/completions'),
          },
          { requiredKeys: ['completion_window'] },
        ),
        cancel: fc.constantFrom('never', 'never', 'never', 'at once', 'after a look'),
      });
      await fc.assert(
        fc.asyncProperty(fileCase, async ({ file, via, filename, batch, cancel }) => {
          let answer: Answer;
          if (via === 'multipart') {
            const form = new FormData();
            form.append('purpose', 'batch');
            form.append('file', new Blob([file]), filename);
            answer = await answerOf(`${sut.service.apiUrl}/files`, { method: 'POST', headers: auth(), body: form });
          } else {
            answer = await answerOf(`${sut.service.apiUrl}/files?purpose=batch&filename=${percentEncode(filename)}`, {
              method: 'POST',
              headers: { ...auth(), 'content-type': via },
              body: file,
            });
          }
          count('input files');
          expectClientAnswer(answer, { bodiless: false });
          // A well-formed upload is refused only for its filename, then its size. FormData escapes only CR, LF and '"'
          // in a filename; the multipart parser reads an RFC quoted-string, where a raw control character is malformed
          // and an odd run of trailing backslashes escapes the closing quote (the file part is then lost). A filename
          // query parameter may hold anything but NUL, as every parameter.
          const badName =
            // eslint-disable-next-line no-control-regex -- the control characters a multipart filename may not hold raw
            via === 'multipart' ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|(^|[^\\])(\\\\)*\\$/.test(filename) : filename.includes('\u0000');
          expect(answer.status).toBe(badName ? 400 : file.length > MAX_FILE_BYTES ? 413 : 200);
          if (answer.status !== 200) return;
          const { stored, batchId } = await runUpload(answer.body, batch);
          expect(stored.equals(file)).toBe(true);
          if (cancel === 'never') return;
          if (cancel === 'after a look') await client.batches.retrieve(batchId);
          const cancelled = await answerOf(`${sut.service.apiUrl}/batches/${batchId}/cancel`, { method: 'POST', headers: auth() });
          count('cancel requests');
          expectClientAnswer(cancelled, { bodiless: false });
          // Cancelled, or already finished (a 1s window, a file that failed validation).
          expect([200, 409]).toContain(cancelled.status);
        }),
        fuzzParameters(SHARE.files),
      );
    },
    budget(SHARE.files),
  );

  test(
    'every accepted batch reaches a terminal status; each that ran accounts for every custom_id once; webhooks delivered',
    async () => {
      // Small batches on a simulated GPU: a minute, and a little more per batch, is ample.
      const deadline = 60_000 + accepted.size * 100;
      let pending: string[] = [];
      const final = await waitFor(
        async () => {
          const seen = new Map<string, Batch>();
          for await (const batch of client.batches.list({ limit: 100 })) seen.set(batch.id, batch);
          pending = [...accepted.keys()].filter((id) => !TERMINAL.includes(seen.get(id)?.status ?? 'missing'));
          return pending.length === 0 && seen;
        },
        { timeoutMs: deadline, intervalMs: 1000, what: 'every accepted batch to end' },
      ).catch(async (err: Error) => {
        const stuck = await Promise.all(pending.slice(0, 5).map(async (id) => `${id} (${(await client.batches.retrieve(id)).status}: ${await pendingFailures(id)})`));
        throw new Error(`${err.message}; ${pending.length} never ended, e.g. ${stuck.join(', ')}`);
      });

      for (const [id, { input, webhookEvents }] of accepted) {
        const batch = final.get(id)!;
        count(`batches ${batch.status}`);
        // A batch that passed validation wrote files that account for every input line, whatever stopped it.
        if (batch.status !== 'failed' && batch.in_progress_at !== null && batch.in_progress_at !== undefined) {
          const ids = customIdsOf(input);
          expectEachCustomIdOnce(ids, await readJsonl(client, batch.output_file_id), await readJsonl(client, batch.error_file_id));
          expect(batch.request_counts).toMatchObject({ total: ids.length });
        }
        if (webhookEvents.includes(`batch.${batch.status}`)) {
          // The receiver acknowledges everything: each subscribed terminal event ends delivered, nothing is left retrying.
          await waitFor(
            async () => {
              const list = (await (await get(`/v1/batches/${id}/webhook_deliveries`)).json()) as { data: Array<{ event_type: string; status: string }> };
              return list.data.some((d) => d.event_type === `batch.${batch.status}`) && list.data.every((d) => d.status === 'delivered');
            },
            { timeoutMs: 60_000, what: `the webhook deliveries of ${id}` },
          );
          count('webhooks delivered');
        }
      }
    },
    // Above the deadline inside, which grows with the number of accepted batches.
    180_000 + FUZZ_RUNS * 100,
  );

  test('afterwards the same process runs a batch to completion, the other tenant is untouched, and no request failed on the server', async () => {
    const lines = Array.from({ length: 10 }, (_, i) => chatLine(`after-${i}`, MODEL, `after ${i}`));
    const batch = await client.batches.create({ input_file_id: (await uploadJsonl(client, lines)).id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForBatch(client, batch.id, (b) => TERMINAL.includes(b.status));
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 10, completed: 10, failed: 0 } });
    expectEachCustomIdOnce(
      lines.map((_, i) => `after-${i}`),
      await readJsonl(client, done.output_file_id),
      await readJsonl(client, done.error_file_id),
    );

    const other = sut.clientAs(ownerKey);
    expect(Buffer.from(await (await other.files.content(foreign.id)).arrayBuffer()).equals(foreign.bytes)).toBe(true);

    // A 5xx whose client had already gone (no answer to check) still leaves this log line.
    expect(sut.service.output()).not.toContain('"msg":"request failed"');
    expectAlive();
  });
});

/** Why a batch's workflow has not ended: the last failure of each of its pending activities, from Temporal. */
async function pendingFailures(batchId: string): Promise<string> {
  const connection = await Connection.connect({ address: testStack().temporalAddress });
  try {
    const { raw } = await new Client({ connection }).workflow.getHandle(batchId).describe();
    const activities = (raw.pendingActivities ?? []).map((a) => `${a.activityType?.name} attempt ${a.attempt}: ${a.lastFailure?.message ?? 'no failure yet'}`);
    return activities.join('; ') || 'no pending activity';
  } catch (err) {
    return `no workflow to describe: ${(err as Error).message}`;
  } finally {
    await connection.close();
  }
}
