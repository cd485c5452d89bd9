import crypto from 'node:crypto';
import { indexHead, MAX_REPORTED_ERRORS, validateAndPlan, type BatchPlan } from '../../src/pipeline/plan';
import type { Db } from '../../src/db/pool';
import { findBatchById, type BatchError } from '../../src/store/batches';
import { insertPlannedRequests } from '../../src/store/requests';
import { ENDPOINTS_OF_KIND } from '../../src/domain/endpoints';
import {
  announceModels,
  batchOfLines,
  checkpoint,
  connectTestDb,
  holdTransition,
  planLimits,
  requestIndex,
  requestsWithResults,
  uniqueTenant,
  waitUntilBlocking,
} from '../support/fixtures';

/**
 * validateAndPlan on the real PostgreSQL: the input file streamed from the store, the request index
 * written, the batch moved to in_progress or failed. Models are this file's own, announced as a
 * live GPU worker would, so the served-model check is deterministic.
 */

const TENANT = uniqueTenant('plan');
const MODEL = `component-plan-model-${crypto.randomUUID()}`;
const OTHER_MODEL = `component-plan-other-${crypto.randomUUID()}`;
const UNSERVED_MODEL = `component-plan-unserved-${crypto.randomUUID()}`;
const POOLING_MODEL = `component-plan-pooling-${crypto.randomUUID()}`;

/** The line's parts as validation looks at them; anything can be overridden or removed (undefined). */
function line(customId: string | undefined, overrides: Record<string, unknown> = {}, body: Record<string, unknown> = {}): string {
  const fields: Record<string, unknown> = {
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: MODEL, messages: [{ role: 'user', content: `hello ${customId}` }], ...body },
    ...overrides,
  };
  return JSON.stringify(fields);
}

/** Only what a client acts on: code, line and param (messages are checked to be present, not worded). */
const shape = (errors: BatchError[] | null) => (errors ?? []).map(({ code, line, param }) => ({ code, line, param }));

describe('validateAndPlan', () => {
  let db: Db;
  let withdraw: () => Promise<void>;

  beforeAll(async () => {
    db = await connectTestDb();
    withdraw = await announceModels(db, [MODEL, OTHER_MODEL]);
  });

  afterAll(async () => {
    await withdraw?.();
    await db?.end();
  });

  test('a valid file becomes a plan: chunk count, totals, and the request index chunk by chunk with the model filled in', async () => {
    const bodyWithHostileText = { messages: [{ role: 'user', content: 'nul \u0000 and lone \ud800 survive' }] };
    const lines = [
      line('a'),
      line('b', {}, { model: undefined }), // the batch's model fills in
      '', // blank lines are counted, not planned
      line('c', {}, bodyWithHostileText),
      line('d'),
      line('e', {}, { temperature: 0.5 }),
    ];
    const batch = await batchOfLines(db, TENANT, lines, { model: MODEL });
    const progress: number[] = [];
    const plan = await validateAndPlan(db, batch.id, planLimits({ chunkSize: 2 }), { onProgress: (n) => progress.push(n) });

    expect(plan).toEqual<BatchPlan>({
      outcome: 'in_progress',
      model: MODEL,
      endpoint: '/v1/chat/completions',
      taskQueue: `inference.${MODEL}`,
      chunkCount: 3,
      totalRequests: 5,
    });
    expect(progress).toEqual([1, 2, 4, 5, 6]);
    const row = (await findBatchById(db, batch.id))!;
    expect(row).toMatchObject({ status: 'in_progress', model: MODEL, chunk_count: 3, total_requests: 5, errors: null });
    expect(row.in_progress_at).toBeInstanceOf(Date);

    const index = await requestIndex(db, batch.id, 3);
    expect(index.map((r) => [r.chunk_no, r.line_no, r.custom_id])).toEqual([
      [0, 1, 'a'],
      [0, 2, 'b'],
      [1, 4, 'c'],
      [1, 5, 'd'],
      [2, 6, 'e'],
    ]);
    const bodies = new Map(index.map((r) => [r.custom_id, JSON.parse(r.body) as unknown]));
    expect(bodies.get('b')).toEqual({ model: MODEL, messages: [{ role: 'user', content: 'hello b' }] });
    expect(bodies.get('c')).toEqual({ model: MODEL, ...bodyWithHostileText });
    expect(bodies.get('e')).toEqual({ model: MODEL, messages: [{ role: 'user', content: 'hello e' }], temperature: 0.5 });
  });

  test('invalid lines fail the batch with OpenAI-shaped line errors in line order, and leave no request index', async () => {
    const lines = [
      line('ok-1'),
      'not json',
      '[1, 2]',
      line(undefined),
      line('get', { method: 'GET' }),
      line('wrong-url', { url: '/v1/embeddings' }),
      line('streams', {}, { stream: true }),
      line('other-model', {}, { model: OTHER_MODEL }),
      line('long', {}, { padding: 'x'.repeat(3_000) }),
      line('ok-2'),
    ];
    const bytes = Buffer.concat([Buffer.from(lines.join('\n') + '\n'), Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a])]); // line 11: not UTF-8
    const batch = await batchOfLines(db, TENANT, bytes);
    const plan = await validateAndPlan(db, batch.id, planLimits({ maxLineBytes: 2_000 }));

    expect(plan).toEqual({ outcome: 'failed' });
    const row = (await findBatchById(db, batch.id))!;
    expect(row.status).toBe('failed');
    expect(row.failed_at).toBeInstanceOf(Date);
    expect(shape(row.errors)).toEqual([
      { code: 'invalid_json_line', line: 2, param: null },
      { code: 'invalid_request', line: 3, param: null },
      { code: 'missing_custom_id', line: 4, param: 'custom_id' },
      { code: 'invalid_method', line: 5, param: 'method' },
      { code: 'invalid_url', line: 6, param: 'url' },
      { code: 'invalid_body', line: 7, param: 'body.stream' },
      { code: 'mismatched_model', line: 8, param: 'body.model' },
      { code: 'line_too_long', line: 9, param: null },
      { code: 'invalid_encoding', line: 11, param: null },
    ]);
    for (const error of row.errors!) {
      expect(Object.keys(error).sort()).toEqual(['code', 'line', 'message', 'param']);
      expect(error.message).toEqual(expect.stringContaining(`${error.line}`));
    }
    expect(await requestsWithResults(db, batch.id)).toEqual([]);
  });

  test.each<[string, string[], Partial<Parameters<typeof planLimits>[0]>, Array<{ code: string; line: number | null; param: string | null }>]>([
    ['an empty file', ['', '   '], {}, [{ code: 'empty_file', line: null, param: null }]],
    [
      'a model no live worker serves',
      [line('a', {}, { model: UNSERVED_MODEL }), line('b', {}, { model: UNSERVED_MODEL })],
      {},
      [{ code: 'model_not_found', line: 1, param: 'body.model' }],
    ],
    ['more requests than allowed', [line('a'), line('b'), line('c'), line('d')], { maxRequests: 2 }, [{ code: 'too_many_requests', line: 3, param: null }]],
  ])('%s fails the batch', async (_name, lines, limits, expected) => {
    const batch = await batchOfLines(db, TENANT, lines);
    await expect(validateAndPlan(db, batch.id, planLimits(limits))).resolves.toEqual({ outcome: 'failed' });
    const row = (await findBatchById(db, batch.id))!;
    expect(row.status).toBe('failed');
    expect(shape(row.errors)).toEqual(expected);
    expect(await requestsWithResults(db, batch.id)).toEqual([]);
  });

  describe('the endpoint a model is served for', () => {
    let withdrawPooling: () => Promise<void>;
    beforeAll(async () => {
      // A worker whose backend runs the model as a pooling model: no generation routes.
      withdrawPooling = await announceModels(db, [POOLING_MODEL], ENDPOINTS_OF_KIND.pooling);
    });
    afterAll(async () => withdrawPooling?.());

    const rerankLine = (id: string) =>
      JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/rerank', body: { model: POOLING_MODEL, query: 'q', documents: ['a', 'b'] } });
    const responsesLine = (id: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/responses', body: { model: POOLING_MODEL, input: 'hi' } });

    test("a pooling endpoint's batch runs on the pooling queue of its model", async () => {
      const batch = await batchOfLines(db, TENANT, [rerankLine('a'), rerankLine('b')], { endpoint: '/v1/rerank' });
      await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toEqual<BatchPlan>({
        outcome: 'in_progress',
        model: POOLING_MODEL,
        endpoint: '/v1/rerank',
        taskQueue: `inference-pooling.${POOLING_MODEL}`,
        chunkCount: 1,
        totalRequests: 2,
      });
    });

    test('a batch for an endpoint no live worker serves the model at fails with endpoint_not_served, naming both', async () => {
      const batch = await batchOfLines(db, TENANT, ['', responsesLine('a'), responsesLine('b')], { endpoint: '/v1/responses' });
      await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toEqual({ outcome: 'failed' });
      const row = (await findBatchById(db, batch.id))!;
      expect(row.errors).toEqual([
        {
          code: 'endpoint_not_served',
          line: 2,
          param: 'url',
          message: `The endpoint /v1/responses is not served for the model "${POOLING_MODEL}" by any live GPU worker (it is served for /v1/embeddings, /v1/rerank, /v1/score).`,
        },
      ]);
    });

    test('a worker serving the model for generation too makes it servable', async () => {
      const withdrawGeneration = await announceModels(db, [POOLING_MODEL], ENDPOINTS_OF_KIND.generation);
      try {
        const batch = await batchOfLines(db, TENANT, [responsesLine('a')], { endpoint: '/v1/responses' });
        await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toMatchObject({ outcome: 'in_progress', taskQueue: `inference.${POOLING_MODEL}` });
      } finally {
        await withdrawGeneration();
      }
    });
  });

  test('duplicate custom_ids are reported at each repeat, across chunks and insert groups, and fail the batch', async () => {
    const lines = Array.from({ length: 1_200 }, (_, i) => line(`r-${i + 1}`));
    lines[1_149] = line('r-1'); // line 1,150 repeats line 1, three insert groups later
    lines[1_198] = line('r-600'); // line 1,199 repeats line 600
    lines[1_199] = line('r-1'); // and r-1 a third time
    const batch = await batchOfLines(db, TENANT, lines);
    await expect(validateAndPlan(db, batch.id, planLimits({ chunkSize: 100 }))).resolves.toEqual({ outcome: 'failed' });

    const row = (await findBatchById(db, batch.id))!;
    expect(shape(row.errors)).toEqual([
      { code: 'duplicate_custom_id', line: 1_150, param: 'custom_id' },
      { code: 'duplicate_custom_id', line: 1_199, param: 'custom_id' },
      { code: 'duplicate_custom_id', line: 1_200, param: 'custom_id' },
    ]);
    expect(row.errors![0]!.message).toContain('"r-1"');
    expect(row.errors![1]!.message).toContain('"r-600"');
    expect(await requestsWithResults(db, batch.id)).toEqual([]);
  });

  test(`at most ${MAX_REPORTED_ERRORS} errors are reported, the first ones by line`, async () => {
    const lines = Array.from({ length: 150 }, (_, i) => (i % 2 === 0 ? 'not json' : line(`dup`)));
    const batch = await batchOfLines(db, TENANT, lines);
    await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toEqual({ outcome: 'failed' });
    const errors = (await findBatchById(db, batch.id))!.errors!;
    expect(errors).toHaveLength(MAX_REPORTED_ERRORS);
    // 75 unparsable lines (odd) and 74 repeats of line 2's custom_id (even): the first 100 by line are lines 1 and 3–101.
    expect(errors.map((e) => e.line)).toEqual(Array.from({ length: MAX_REPORTED_ERRORS + 1 }, (_, i) => i + 1).filter((n) => n !== 2));
  });

  test('an unserved model is reported at its line among the others, and kept when there are more than can be reported', async () => {
    const unserved = (customId: string) => line(customId, {}, { model: UNSERVED_MODEL });
    const few = await batchOfLines(db, TENANT, [unserved('a'), 'not json', unserved('c')]);
    await validateAndPlan(db, few.id, planLimits());
    expect(shape((await findBatchById(db, few.id))!.errors)).toEqual([
      { code: 'model_not_found', line: 1, param: 'body.model' },
      { code: 'invalid_json_line', line: 2, param: null },
    ]);

    const many = await batchOfLines(db, TENANT, [unserved('a'), ...Array.from({ length: 150 }, () => 'not json')]);
    await validateAndPlan(db, many.id, planLimits());
    const errors = (await findBatchById(db, many.id))!.errors!;
    expect(errors).toHaveLength(MAX_REPORTED_ERRORS);
    expect(errors[0]).toMatchObject({ code: 'model_not_found', line: 1 });
    expect(errors.at(-1)).toMatchObject({ code: 'invalid_json_line', line: MAX_REPORTED_ERRORS });
  });
  describe('a model no live worker serves yet (its grace period, MODEL_GRACE_SECONDS)', () => {
    const lateLine = (model: string, customId: string) => line(customId, {}, { model });

    test('the batch waits, still validating, and is planned once a worker announces the model', async () => {
      const lateModel = `component-plan-late-${crypto.randomUUID()}`;
      const batch = await batchOfLines(db, TENANT, [lateLine(lateModel, 'a'), lateLine(lateModel, 'b')]);
      let plan: BatchPlan | undefined;
      const planning = validateAndPlan(db, batch.id, planLimits({ modelGraceSeconds: 60 })).then((p) => (plan = p));
      // Past a check or two with nothing served: still waiting, not failed.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect({ plan, status: (await findBatchById(db, batch.id))!.status }).toEqual({ plan: undefined, status: 'validating' });

      const withdrawLate = await announceModels(db, [lateModel]);
      try {
        await planning;
        expect(plan).toMatchObject({ outcome: 'in_progress', model: lateModel, totalRequests: 2 });
      } finally {
        await withdrawLate();
      }
    });

    test('it fails with model_not_found once the grace period after its creation has passed', async () => {
      const batch = await batchOfLines(db, TENANT, [lateLine(UNSERVED_MODEL, 'a')]);
      await expect(validateAndPlan(db, batch.id, planLimits({ modelGraceSeconds: 3 }))).resolves.toEqual({ outcome: 'failed' });
      const row = (await findBatchById(db, batch.id))!;
      expect(shape(row.errors)).toEqual([{ code: 'model_not_found', line: 1, param: 'body.model' }]);
      expect(row.failed_at!.getTime() - row.created_at.getTime()).toBeGreaterThanOrEqual(3_000);
    });

    test('a batch with line errors fails at once: nothing to wait for', async () => {
      const batch = await batchOfLines(db, TENANT, [lateLine(UNSERVED_MODEL, 'a'), 'not json']);
      const started = Date.now();
      await expect(validateAndPlan(db, batch.id, planLimits({ modelGraceSeconds: 60 }))).resolves.toEqual({ outcome: 'failed' });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(shape((await findBatchById(db, batch.id))!.errors)).toEqual([
        { code: 'model_not_found', line: 1, param: 'body.model' },
        { code: 'invalid_json_line', line: 2, param: null },
      ]);
    });

    test('a cancelled validation stops waiting', async () => {
      const batch = await batchOfLines(db, TENANT, [lateLine(UNSERVED_MODEL, 'a')]);
      const abort = new AbortController();
      const planning = validateAndPlan(db, batch.id, planLimits({ modelGraceSeconds: 600 }), { signal: abort.signal });
      setTimeout(() => abort.abort(new Error('cancelled (test)')), 500);
      // An AbortError, which the activity reports to Temporal as the cancellation it is.
      await expect(planning).rejects.toMatchObject({ name: 'AbortError' });
    });
  });

  describe('a retried activity', () => {
    const lines = Array.from({ length: 7 }, (_, i) => line(`id-${i + 1}`));

    test('running twice gives the same plan and the same request index, once', async () => {
      const batch = await batchOfLines(db, TENANT, lines);
      const first = await validateAndPlan(db, batch.id, planLimits({ chunkSize: 3 }));
      const startedAt = (await findBatchById(db, batch.id))!.in_progress_at;
      const second = await validateAndPlan(db, batch.id, planLimits({ chunkSize: 3 }));

      expect(first).toEqual({ outcome: 'in_progress', model: MODEL, endpoint: '/v1/chat/completions', taskQueue: `inference.${MODEL}`, chunkCount: 3, totalRequests: 7 });
      expect(second).toEqual(first);
      expect((await findBatchById(db, batch.id))!.in_progress_at).toEqual(startedAt);
      expect((await requestsWithResults(db, batch.id)).map((r) => r.custom_id)).toEqual(lines.map((_, i) => `id-${i + 1}`));
    });

    test('an attempt that crashed after writing part of the index is completed by the retry, without false duplicates', async () => {
      const batch = await batchOfLines(db, TENANT, lines);
      // What the first attempt wrote before it died: its first rows, exactly as validation stores them.
      await insertPlannedRequests(
        db,
        batch.id,
        [1, 2, 3, 4].map((n) => ({ lineNo: n, chunkNo: Math.floor((n - 1) / 3), customId: `id-${n}`, body: JSON.stringify(JSON.parse(lines[n - 1]!).body) })),
      );
      const plan = await validateAndPlan(db, batch.id, planLimits({ chunkSize: 3 }));
      expect(plan).toMatchObject({ outcome: 'in_progress', chunkCount: 3, totalRequests: 7 });
      expect((await findBatchById(db, batch.id))!.errors).toBeNull();
      const index = await requestIndex(db, batch.id, 3);
      expect(index.map((r) => [r.chunk_no, r.line_no])).toEqual([
        [0, 1],
        [0, 2],
        [0, 3],
        [1, 4],
        [1, 5],
        [1, 6],
        [2, 7],
      ]);
    });

    test('two overlapping attempts agree on one plan and one index', async () => {
      const batch = await batchOfLines(db, TENANT, lines);
      const [a, b] = await Promise.all([validateAndPlan(db, batch.id, planLimits({ chunkSize: 3 })), validateAndPlan(db, batch.id, planLimits({ chunkSize: 3 }))]);
      expect(a).toEqual({ outcome: 'in_progress', model: MODEL, endpoint: '/v1/chat/completions', taskQueue: `inference.${MODEL}`, chunkCount: 3, totalRequests: 7 });
      expect(b).toEqual(a);
      expect(await requestsWithResults(db, batch.id)).toHaveLength(7);
    });

    test('a failed batch stays failed with the errors of the first attempt', async () => {
      const batch = await batchOfLines(db, TENANT, [line('x'), 'oops', line('x')]);
      await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toEqual({ outcome: 'failed' });
      const errors = (await findBatchById(db, batch.id))!.errors;
      expect(shape(errors)).toEqual([
        { code: 'invalid_json_line', line: 2, param: null },
        { code: 'duplicate_custom_id', line: 3, param: 'custom_id' },
      ]);
      await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toEqual({ outcome: 'failed' });
      expect((await findBatchById(db, batch.id))!.errors).toEqual(errors);
    });
  });

  describe('a batch cancelled while validating', () => {
    test('before the activity ran: nothing is planned and the plan says it is not runnable', async () => {
      const batch = await batchOfLines(db, TENANT, [line('a'), line('b')]);
      const cancel = await holdTransition(db, batch.id, 'cancelled');
      await cancel.commit();
      await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toEqual({ outcome: 'not_runnable', status: 'cancelled' });
      expect(await requestsWithResults(db, batch.id)).toEqual([]);
    });

    test('mid-validation: the cancel wins, the batch never starts, and the index written meanwhile is dropped', async () => {
      const lines = Array.from({ length: 1_100 }, (_, i) => line(`m-${i + 1}`));
      const batch = await batchOfLines(db, TENANT, lines);
      // The cancel holds the batch row, uncommitted: validation reads the batch as validating, writes
      // its whole index, then waits on the row to move the batch to in_progress.
      const cancel = await holdTransition(db, batch.id, 'cancelled');
      let planned: BatchPlan | undefined;
      const validation = validateAndPlan(db, batch.id, planLimits({ chunkSize: 100 })).then((plan) => (planned = plan));
      try {
        await waitUntilBlocking(db, cancel.pid, 'validation to wait on the cancelled batch row');
        expect(planned).toBeUndefined();
        expect(await requestsWithResults(db, batch.id)).toHaveLength(1_100);
      } finally {
        await cancel.commit();
      }
      await validation;

      expect(planned).toEqual({ outcome: 'not_runnable', status: 'cancelled' });
      const row = (await findBatchById(db, batch.id))!;
      expect(row).toMatchObject({ status: 'cancelled', chunk_count: null, total_requests: 0, in_progress_at: null });
      expect(await requestsWithResults(db, batch.id)).toEqual([]);
    });
  });

  describe('the head: the first chunks, indexed to run while the rest is validated', () => {
    test('indexes whole chunks only, which the plan then keeps as they are', async () => {
      const batch = await batchOfLines(
        db,
        TENANT,
        Array.from({ length: 25 }, (_, i) => line(`h-${i + 1}`)),
      );
      const head = await indexHead(db, batch.id, planLimits({ chunkSize: 10 }), { chunks: 2 });
      expect(head).toEqual({ model: MODEL, endpoint: '/v1/chat/completions', taskQueue: `inference.${MODEL}`, chunks: 2 });
      const indexed = await requestIndex(db, batch.id, 3);
      expect(indexed.map((r) => r.custom_id)).toEqual(Array.from({ length: 20 }, (_, i) => `h-${i + 1}`));
      expect((await findBatchById(db, batch.id))!.status).toBe('validating');

      await expect(validateAndPlan(db, batch.id, planLimits({ chunkSize: 10 }))).resolves.toMatchObject({ outcome: 'in_progress', chunkCount: 3, totalRequests: 25 });
      const planned = await requestIndex(db, batch.id, 3);
      expect(planned.map((r) => [r.custom_id, r.chunk_no])).toEqual(Array.from({ length: 25 }, (_, i) => [`h-${i + 1}`, Math.floor(i / 10)]));
    });

    test('whole chunks only within its byte budget: a file of large lines does not hold up its validation', async () => {
      const batch = await batchOfLines(
        db,
        TENANT,
        Array.from({ length: 25 }, (_, i) => line(`b-${i + 1}`, {}, { padding: 'x'.repeat(1_000) })),
      );
      // 12 lines fill the budget: one whole chunk of 10.
      await expect(indexHead(db, batch.id, planLimits({ chunkSize: 10 }), { chunks: 2, bytes: 12 * 1_000 })).resolves.toMatchObject({ chunks: 1 });
      await expect(indexHead(db, batch.id, planLimits({ chunkSize: 10 }), { chunks: 2, bytes: 5 * 1_000 })).resolves.toBeNull();
    });

    test("a file that ends within the head is all of it, its last chunk's partial one included", async () => {
      const batch = await batchOfLines(
        db,
        TENANT,
        Array.from({ length: 15 }, (_, i) => line(`s-${i + 1}`)),
      );
      await expect(indexHead(db, batch.id, planLimits({ chunkSize: 10 }), { chunks: 4 })).resolves.toMatchObject({ chunks: 2 });
    });

    test.each([
      ['a problem among its lines', [line('p-1'), '{not json', line('p-3')], MODEL],
      ['a model no live worker serves', [line('u-1', {}, { model: UNSERVED_MODEL }), line('u-2', {}, { model: UNSERVED_MODEL })], UNSERVED_MODEL],
    ])('none with %s: the batch waits for its validation', async (_what, lines) => {
      const batch = await batchOfLines(db, TENANT, lines);
      await expect(indexHead(db, batch.id, planLimits({ chunkSize: 1 }), { chunks: 2 })).resolves.toBeNull();
    });

    test('none for a batch no longer validating', async () => {
      const batch = await batchOfLines(db, TENANT, [line('c-1')]);
      await (await holdTransition(db, batch.id, 'cancelled')).commit();
      await expect(indexHead(db, batch.id, planLimits(), { chunks: 2 })).resolves.toBeNull();
    });

    test('what the head ran is dropped when the batch then fails: no result, no request counted', async () => {
      const lines = [...Array.from({ length: 4 }, (_, i) => line(`f-${i + 1}`)), line('f-1')];
      const batch = await batchOfLines(db, TENANT, lines);
      await expect(indexHead(db, batch.id, planLimits({ chunkSize: 2 }), { chunks: 2 })).resolves.toMatchObject({ chunks: 2 });
      // Its chunks ran while it validated: stored, and counted.
      await expect(
        checkpoint(db, batch.id, [
          { lineNo: 1, status: 200, tokens: [3, 4] },
          { lineNo: 2, status: 500 },
        ]),
      ).resolves.toBe(2);
      expect((await findBatchById(db, batch.id))!).toMatchObject({ completed_requests: 1, failed_requests: 1, input_tokens: 3 });

      await expect(validateAndPlan(db, batch.id, planLimits({ chunkSize: 2 }))).resolves.toEqual({ outcome: 'failed' });
      const row = (await findBatchById(db, batch.id))!;
      expect(row).toMatchObject({ status: 'failed', completed_requests: 0, failed_requests: 0, input_tokens: 0, output_tokens: 0 });
      expect(shape(row.errors)).toEqual([{ code: 'duplicate_custom_id', line: 5, param: 'custom_id' }]);
      const left = await db.query('SELECT count(*)::int AS n FROM batch_results WHERE batch_id = $1', [batch.id]);
      expect(left.rows[0].n).toBe(0);
      // Once it has failed, nothing more is stored.
      await expect(checkpoint(db, batch.id, [{ lineNo: 3, status: 200 }])).resolves.toBe(0);
    });
  });

  test('a batch that does not exist is an error, not a plan', async () => {
    await expect(validateAndPlan(db, 'batch_does_not_exist', planLimits())).rejects.toThrow('does not exist');
  });

  describe("when PostgreSQL refuses the data itself (a trigger raising on this batch's request rows)", () => {
    const refuse = async (batchId: string, sqlstate: string) => {
      await db.query(
        `CREATE OR REPLACE FUNCTION refuse_requests() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused (test)' USING ERRCODE = TG_ARGV[0]; END $$`,
      );
      await db.query(
        `CREATE TRIGGER refuse_requests BEFORE INSERT ON batch_requests FOR EACH ROW WHEN (NEW.batch_id = '${batchId}') EXECUTE FUNCTION refuse_requests('${sqlstate}')`,
      );
    };
    afterEach(() => db.query('DROP TRIGGER IF EXISTS refuse_requests ON batch_requests'));

    test('a data exception (SQLSTATE class 22) fails the batch at once, saying why, instead of retrying forever', async () => {
      const batch = await batchOfLines(db, TENANT, [line('a'), line('b'), line('c')], { model: MODEL });
      await refuse(batch.id, '22P05');
      await expect(validateAndPlan(db, batch.id, planLimits())).resolves.toEqual({ outcome: 'failed' });
      const failed = (await findBatchById(db, batch.id))!;
      expect(failed.status).toBe('failed');
      expect(shape(failed.errors)).toEqual([{ code: 'input_not_storable', line: null, param: null }]);
      expect(failed.errors![0]!.message).toMatch(/could not be stored: refused \(test\)/);
      expect(await requestsWithResults(db, batch.id)).toEqual([]);
    });

    test("any other failure (a serialization conflict) is left to the activity's retry, the batch still validating", async () => {
      const batch = await batchOfLines(db, TENANT, [line('a')], { model: MODEL });
      await refuse(batch.id, '40001');
      await expect(validateAndPlan(db, batch.id, planLimits())).rejects.toThrow(/refused \(test\)/);
      expect((await findBatchById(db, batch.id))!.status).toBe('validating');
    });
  });
});
