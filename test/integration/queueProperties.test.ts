import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { jsonApi, unique } from '../support/api';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

const SERVED = 'sim-llama-3.1-8b-instruct';
const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';

type Kwargs = Record<string, unknown>;
/** request_kwargs as the test writes them: members of (key, value text), some values in forms JSON.stringify never writes. */
type KwargsText = Array<[string, string]>;
/** What a producer may send as one item, each shape the README lists. */
type Shape = 'messages' | 'string' | 'partial' | 'full';
type Command =
  | { kind: 'enqueue'; shape: Shape; served: boolean }
  | { kind: 'invalid'; why: 'stream' | 'no_fields' | 'not_an_item' }
  | { kind: 'settings'; endpoint: typeof CHAT | typeof COMPLETIONS; kwargs: KwargsText }
  | { kind: 'model'; served: boolean }
  | { kind: 'cancel'; pick: number };

/** An accepted request: the body text its line must carry, byte for byte, if it runs. */
type Accepted = { id: string; customId: string; marker: string; valid: boolean; expectedBody: string; cancelled: boolean };

// Keys are words, never integer-like: an object's keys then keep their order through any JSON.parse/stringify.
const kwargsArb: fc.Arbitrary<KwargsText> = fc
  .tuple(
    fc.record(
      {
        max_tokens: fc.integer({ min: 1, max: 4 }),
        temperature: fc.constantFrom(0, 0.5, 1),
        seed: fc.integer({ min: 0, max: 2 ** 40 }),
        response_format: fc.constant({ type: 'json_object', schema: { default: null, nested: { keep: null } } }),
        user: fc.constantFrom('a', 'é', 'line\nbreak'),
      },
      { requiredKeys: [] },
    ),
    fc.subarray<[string, string]>([
      ['big', '123456789012345678901234567890'],
      ['ratio', '1.0'],
      ['spaced', '{ "a" : [ 1 , null ] }'],
    ]),
  )
  .map(([plain, written]) => [...Object.entries(plain).map(([k, v]): [string, string] => [k, JSON.stringify(v)]), ...written]);

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('enqueue' as const), shape: fc.constantFrom<Shape>('messages', 'string', 'partial', 'full'), served: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('invalid' as const), why: fc.constantFrom('stream' as const, 'no_fields' as const, 'not_an_item' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settings' as const), endpoint: fc.constantFrom(CHAT, COMPLETIONS), kwargs: kwargsArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('model' as const), served: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
);

/**
 * The property of issue 24: interleavings of enqueues (valid and invalid, of every shape), settings
 * changes, changes of which model a queue's partial requests name (served or not) and cancels on one
 * queue. No 5xx; every accepted request ends exactly once; no valid one fails because of another; no
 * batch cut from the queue fails validation; the body the backend receives is, byte for byte, the
 * body accepted plus the kwargs of its moment — kwargs and full bodies are sent as text with big
 * integers, `1.0` and spacing, which any parse and re-serialisation on the way would change.
 */
describe('stream-to-batch property: what happens to one queued request never touches another', () => {
  const key = unique('sk-prop');
  const received: string[] = [];
  let proxy: http.Server;
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    // Between the service and the simulator: records every inference body exactly as sent.
    const upstream = new URL(testStack().simulatorUrl);
    proxy = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.method === 'POST') received.push(body.toString('utf8'));
        fetch(`${upstream.origin}${req.url}`, { method: req.method, headers: { 'content-type': 'application/json' }, body: req.method === 'POST' ? body : undefined })
          .then(async (answer) => {
            res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
            res.end(Buffer.from(await answer.arrayBuffer()));
          })
          .catch(() => res.destroy());
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v1`;
    sut = await startServiceUnderTest({
      env: { API_KEYS: `${key}:${unique('prop')}`, VLLM_BASE_URL: base, VLLM_MODELS: SERVED, MAX_QUEUED_REQUESTS_PER_TENANT: '1000' },
    });
  });
  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
    await new Promise((resolve) => proxy?.close(resolve));
  });

  const api = () => jsonApi(sut.service.apiUrl, key);

  test('no 5xx; each accepted request ends once; valid ones complete; batches never fail; backend bodies are the accepted ones', async () => {
    let run = 0;
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 4, maxLength: 14, size: 'max' }), fc.integer({ min: 1, max: 4 }), async (commands, threshold) => {
        run++;
        const queue = `prop-${run}-${unique('q')}`;
        const statuses: number[] = [];
        const call = async (method: string, route: string, body?: unknown) => {
          const response = await api()(method, route, body);
          statuses.push(response.status);
          return response;
        };
        /** A call whose body is sent as the given JSON text. */
        const raw = async (route: string, text: string) => {
          const response = await fetch(`${sut.service.apiUrl}${route}`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
            body: text,
          });
          statuses.push(response.status);
          return { status: response.status, body: (await response.json()) as Record<string, unknown> };
        };
        expect((await call('POST', '/queues', { name: queue, model: SERVED, queue_threshold: threshold, time_threshold: 0.5, time_interval: 0.2 })).status).toBe(200);
        // The queue's settings as the test knows them, to predict each accepted line.
        let endpoint: typeof CHAT | typeof COMPLETIONS = CHAT;
        let kwargs: KwargsText = [];
        let model = SERVED;
        const accepted: Accepted[] = [];

        for (const [i, command] of commands.entries()) {
          const marker = `mk-${run}-${i}-${unique('m')}`;
          if (command.kind === 'settings') {
            const written = command.kwargs.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(', ');
            expect((await raw(`/queues/${queue}`, `{"endpoint": ${JSON.stringify(command.endpoint)}, "request_kwargs": {${written}}}`)).status).toBe(200);
            endpoint = command.endpoint;
            kwargs = command.kwargs;
          } else if (command.kind === 'model') {
            model = command.served ? SERVED : `unserved-${marker}`;
            expect((await call('POST', `/queues/${queue}`, { model })).status).toBe(200);
          } else if (command.kind === 'cancel') {
            const target = accepted[command.pick % Math.max(1, accepted.length)];
            if (!target) continue;
            const cancelled = await call('POST', `/requests/${target.id}/cancel`, {});
            expect([200, 409]).toContain(cancelled.status);
            if (cancelled.status === 200) target.cancelled = true;
          } else if (command.kind === 'invalid') {
            const item = {
              stream: { body: { messages: [{ role: 'user', content: marker }], prompt: marker, stream: true } },
              no_fields: { temperature: 1 },
              not_an_item: 42,
            }[command.why];
            const refused = await call('POST', `/requests?queue=${queue}`, { data: [item] });
            expect(refused.status).toBe(400);
          } else {
            // The model the item names itself, if its shape can name one: else the queue's applies.
            const wanted = command.served ? undefined : `unserved-${marker}`;
            const partial = command.shape === 'full' ? undefined : itemOf(command.shape, endpoint, marker, wanted);
            const ownModel = partial ? (partial.fields.model as string | undefined) : wanted;
            const modelMember = ownModel === undefined ? `,"model":${JSON.stringify(model)}` : '';
            let expectedBody: string;
            let posted;
            if (!partial) {
              // Sent as text: the body must reach the backend as written, the model appended.
              const content = endpoint === CHAT ? `"messages": [ {"role": "user", "content": ${JSON.stringify(marker)}} ]` : `"prompt": ${JSON.stringify(marker)}`;
              const body = `{ ${content}, "max_tokens": 2, "big": 98765432109876543210987654321${ownModel === undefined ? '' : `, "model": ${JSON.stringify(ownModel)}`} }`;
              posted = await raw(`/requests?queue=${queue}`, `{"data": [{"custom_id": ${JSON.stringify(marker)}, "body": ${body}}]}`);
              expectedBody = ownModel === undefined ? `${body.slice(0, -1)}${modelMember}}` : body;
            } else {
              posted = await call('POST', `/requests?queue=${queue}`, { data: [partial.item] });
              // The documented composition: the kwargs the item does not set, as written, then the item's fields, then the model.
              const members = [
                ...kwargs.filter(([k]) => !(k in partial.fields)),
                ...Object.entries(partial.fields).map(([k, v]): [string, string] => [k, JSON.stringify(v)]),
              ];
              expectedBody = `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}${modelMember}}`;
            }
            const named = ownModel ?? model;
            expect(posted.status).toBe(200);
            const id = (posted.body.request_ids as string[])[0]!;
            accepted.push({ id, customId: command.shape === 'full' ? marker : id, marker, valid: named === SERVED, expectedBody, cancelled: false });
          }
        }

        // Let everything due go: a settings change wakes the dispatcher.
        expect((await call('POST', `/queues/${queue}`, { queue_threshold: 1, time_threshold: 0 })).status).toBe(200);
        const finalOf = async (r: Accepted) => (await call('GET', `/requests/${r.id}`)).body as { status: string; batch_id: string | null };
        const ended = await waitFor(
          async () => {
            const all = await Promise.all(accepted.map(async (r) => ({ r, now: await finalOf(r) })));
            return all.every(({ r, now }) => (r.valid && !r.cancelled ? now.status === 'completed' : now.status === 'queued' || now.status === 'cancelled')) && all;
          },
          { timeoutMs: 60_000, intervalMs: 300, what: 'every valid request to complete' },
        );
        // The unserved ones held only themselves; they end when cancelled.
        for (const { r, now } of ended)
          if (now.status === 'queued') expect((await call('POST', `/requests/${r.id}/cancel`, {})).body).toMatchObject({ status: 'cancelled' });

        // Each batch of the queue completed, and holds each of its requests once.
        const batches = new Set(ended.flatMap(({ now }) => (now.batch_id ? [now.batch_id] : [])));
        const lines = new Map<string, number>();
        for (const batchId of batches) {
          // A request reads as completed once its own result is stored; its batch ends a moment later.
          const batch = await waitFor(
            async () => {
              const now = (await call('GET', `/batches/${batchId}`)).body as { status: string; input_file_id: string; request_counts: { failed: number } };
              return ['completed', 'failed', 'expired', 'cancelled'].includes(now.status) && now;
            },
            { timeoutMs: 30_000, intervalMs: 200, what: `batch ${batchId} to end` },
          );
          expect(batch).toMatchObject({ status: 'completed', request_counts: { failed: 0 } });
          const content = await fetch(`${sut.service.apiUrl}/files/${batch.input_file_id}/content`, { headers: { Authorization: `Bearer ${key}` } });
          for (const line of (await content.text()).trim().split('\n')) {
            const customId = (JSON.parse(line) as { custom_id: string }).custom_id;
            lines.set(customId, (lines.get(customId) ?? 0) + 1);
          }
        }
        const ran = ended.filter(({ now }) => now.batch_id !== null).map(({ r }) => r.customId);
        expect([...lines.keys()].sort()).toEqual([...ran].sort());
        expect([...lines.values()].every((n) => n === 1)).toBe(true);

        // What the backend got for each request that ran: the accepted body, byte for byte.
        for (const { r, now } of ended) {
          if (now.batch_id === null) continue;
          const sent = new Set(received.filter((body) => body.includes(r.marker)));
          expect({ id: r.id, sent: [...sent] }).toEqual({ id: r.id, sent: [r.expectedBody] });
          compared++;
        }
        expect(statuses.filter((status) => status >= 500)).toEqual([]);
      }),
      { numRuns: 10, endOnFailure: true },
    );
    // The runs did reach the backend: the byte-for-byte comparison is not vacuous.
    expect(compared).toBeGreaterThan(10);
  }, 300_000);
});

/** One partial item of `shape` for a queue of `endpoint`, and the body fields it sets itself. */
function itemOf(shape: Exclude<Shape, 'full'>, endpoint: string, marker: string, ownModel: string | undefined): { item: unknown; fields: Kwargs } {
  const model = ownModel === undefined ? {} : { model: ownModel };
  const chat = endpoint === CHAT;
  const content = chat ? { messages: [{ role: 'user', content: marker }] } : { prompt: marker };
  switch (shape) {
    case 'messages':
      // A message list needs a chat queue; on another one the shape is a body with messages and prompt.
      return chat
        ? { item: [{ role: 'user', content: marker }], fields: { messages: [{ role: 'user', content: marker }] } }
        : itemOf('partial', endpoint, marker, ownModel);
    case 'string':
      return { item: marker, fields: content };
    case 'partial':
      return { item: { ...content, ...model }, fields: { ...content, ...model } };
  }
}
