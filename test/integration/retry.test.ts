import { chatLine, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';

const MODEL = 'sim-llama-3.1-8b-instruct';

/**
 * POST /v1/batches/{id}/retry: a batch with injected failures is retried for some of its failure
 * codes; the retry runs exactly those lines (same custom_ids and bodies) and succeeds, and the two
 * batches together account for every custom_id once.
 */
describe('retrying the failed lines of a batch', () => {
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    // Two attempts per request: a request failing twice (its marker's count) fails its first batch, and succeeds in the
    // retry. The 500s must not take the simulator out of rotation (then they would be waited out, not charged).
    sut = await startServiceUnderTest({ env: { REQUEST_MAX_ATTEMPTS: '2', BACKEND_FAILURE_THRESHOLD: '100' } });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  const retry = (batchId: string, body: Record<string, unknown>, key?: string) =>
    fetch(`${sut.service.apiUrl}/batches/${batchId}/retry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, replayed: r.headers.get('idempotent-replayed'), body: (await r.json()) as any }));

  test('a retry of the server errors and rate limits completes them; the 400s stay failed in the parent', async () => {
    const run = Date.now();
    const marker = (i: number) => (i % 10 === 1 ? ' [[sim:500x2]]' : i % 10 === 2 ? ' [[sim:429x2]]' : i % 10 === 3 ? ' [[sim:400]]' : '');
    const lines = Array.from({ length: 40 }, (_, i) => chatLine(`line-${i}`, MODEL, `retry test ${run} ${i}${marker(i)}`));
    const input = await uploadJsonl(sut.client, lines);
    const created = await sut.client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { project: 'retry' },
    });

    expect((await retry(created.id, {})).body.error.code).toBe('batch_not_finished');
    const parent = await waitForBatch(sut.client, created.id, (b) => TERMINAL.includes(b.status));
    expect(parent.status).toBe('completed');
    expect(parent.request_counts).toEqual({ total: 40, completed: 28, failed: 12 });
    const parentErrors = await readJsonl(sut.client, parent.error_file_id);
    const codeOf = (line: (typeof parentErrors)[number]) => line.error?.code ?? `http_${line.response!.status_code}`;
    expect(new Set(parentErrors.map(codeOf))).toEqual(new Set(['server_error', 'rate_limited', 'http_400']));

    const answer = await retry(parent.id, { codes: ['server_error', 'rate_limited'] }, `retry-${run}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ retry_of: parent.id, retries: [], endpoint: '/v1/chat/completions', model: MODEL, metadata: { project: 'retry' } });
    // Retried with the same key: the same batch, not another.
    const again = await retry(parent.id, { codes: ['server_error', 'rate_limited'] }, `retry-${run}`);
    expect(again).toMatchObject({ status: 200, replayed: 'true', body: { id: answer.body.id } });

    // Exactly the selected failed lines, byte for byte as uploaded, in input order.
    const child = await waitForBatch(sut.client, answer.body.id, (b) => TERMINAL.includes(b.status));
    const retried = parentErrors.filter((l) => codeOf(l) !== 'http_400').map((l) => l.custom_id);
    const childInput = (await (await sut.client.files.content(child.input_file_id)).text()).split('\n').filter(Boolean);
    expect(childInput).toEqual(lines.filter((line) => retried.includes(JSON.parse(line).custom_id)));
    expect(child.status).toBe('completed');
    expect(child.request_counts).toEqual({ total: 8, completed: 8, failed: 0 });

    // Together: every custom_id exactly once, as a success of either batch or a failure not retried.
    const accounted = [
      ...(await readJsonl(sut.client, parent.output_file_id)).map((l) => l.custom_id),
      ...(await readJsonl(sut.client, child.output_file_id)).map((l) => l.custom_id),
      ...parentErrors.filter((l) => codeOf(l) === 'http_400').map((l) => l.custom_id),
    ];
    expect(accounted.sort()).toEqual(lines.map((l) => JSON.parse(l).custom_id as string).sort());

    // The parent lists its retry; the SDK parses both objects.
    const listed = (await sut.client.batches.retrieve(parent.id)) as unknown as { retries: string[] };
    expect(listed.retries).toEqual([child.id]);
    expect(((await sut.client.batches.retrieve(child.id)) as unknown as { retry_of: string }).retry_of).toBe(parent.id);

    // Nothing left to retry in the child; no 500s in the parent's 400s.
    expect(await retry(child.id, {})).toMatchObject({ status: 409, body: { error: { code: 'nothing_to_retry' } } });
    expect(await retry(parent.id, { codes: ['timeout'] })).toMatchObject({ status: 409, body: { error: { code: 'nothing_to_retry' } } });
  });

  test('unknown batches, bad bodies and batches whose files are gone are refused clearly', async () => {
    expect(await retry('batch_nope', {})).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const bad = await retry('batch_nope', { codes: 'server_error' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('codes');

    const input = await uploadJsonl(sut.client, [chatLine('x', MODEL, `gone ${Date.now()} [[sim:400]]`)]);
    const created = await sut.client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const ended = await waitForBatch(sut.client, created.id, (b) => TERMINAL.includes(b.status));
    await sut.client.files.delete(input.id);
    const answer = await retry(ended.id, {});
    expect(answer.status).toBe(409);
    expect(answer.body.error).toMatchObject({ code: 'batch_files_gone' });
    expect(answer.body.error.message).toContain(input.id);
  });
});
