import { chatLine, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { waitFor } from '../support/wait';

const MODEL = 'sim-results-model';
const LINES = 10_000;

type Page = { data: Array<{ line: number; file: 'output' | 'error'; result: { custom_id: string } }>; last_line: number; has_more: boolean; batch_status: string };

/**
 * GET /v1/batches/{id}/results while a 10,000-line batch runs: paging on with `last_line` returns
 * every line exactly once, in input order, the first ones long before the batch ends, each equal to
 * its line in the output or error file.
 */
describe('results while a batch runs', () => {
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    sut = await startServiceUnderTest({ simulator: { models: [MODEL], capacity: 32, baseLatencyMs: 20 } });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  const page = async (batchId: string, after: number, limit: number): Promise<Page> => {
    const response = await fetch(`${sut.service.apiUrl}/batches/${batchId}/results?after=${after}&limit=${limit}`);
    expect(response.status).toBe(200);
    return (await response.json()) as Page;
  };

  test('every finished line once, in input order, as in the files', async () => {
    const lines = Array.from({ length: LINES }, (_, i) => chatLine(`r-${i}`, MODEL, `results ${i}${i % 97 === 5 ? ' [[sim:400]]' : ''}`));
    const input = await uploadJsonl(sut.client, lines);
    const batch = await sut.client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });

    const seen: Page['data'] = [];
    let after = 0;
    let readWhileRunning = 0;
    await waitFor(
      async () => {
        const next = await page(batch.id, after, 1000);
        expect(next.last_line).toBe(next.data.at(-1)?.line ?? after);
        if (!TERMINAL.includes(next.batch_status)) readWhileRunning += next.data.length;
        seen.push(...next.data);
        after = next.last_line;
        return !next.has_more;
      },
      { timeoutMs: 170_000, intervalMs: 100, what: 'every line through the results endpoint' },
    );

    // Consumed long before the end, and each line exactly once, in order.
    expect(readWhileRunning).toBeGreaterThan(LINES / 10);
    expect(seen.map((item) => item.line)).toEqual(Array.from({ length: LINES }, (_, i) => i + 1));
    expect(seen.map((item) => item.result.custom_id)).toEqual(lines.map((_, i) => `r-${i}`));

    const ended = await waitForBatch(sut.client, batch.id, (b) => TERMINAL.includes(b.status));
    expect(ended.status).toBe('completed');
    expect(await readJsonl(sut.client, ended.output_file_id)).toEqual(seen.filter((item) => item.file === 'output').map((item) => item.result));
    const errors = await readJsonl(sut.client, ended.error_file_id);
    expect(errors).toHaveLength(Math.ceil((LINES - 5) / 97));
    expect(errors).toEqual(seen.filter((item) => item.file === 'error').map((item) => item.result));

    // Past the end: an empty last page.
    expect(await page(batch.id, LINES, 10)).toEqual({ object: 'list', data: [], last_line: LINES, has_more: false, batch_status: 'completed' });
  });

  test('a cancelled batch reads its unrun lines as its error file has them; bad paging is a 400', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => chatLine(`c-${i}`, MODEL, `cancel ${i} [[sim:hang]]`));
    const input = await uploadJsonl(sut.client, lines);
    const batch = await sut.client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitForBatch(sut.client, batch.id, (b) => b.status === 'in_progress');
    expect((await page(batch.id, 0, 10)).data).toEqual([]);
    await sut.client.batches.cancel(batch.id);
    const ended = await waitForBatch(sut.client, batch.id, (b) => TERMINAL.includes(b.status));
    expect(ended.status).toBe('cancelled');
    const all = await page(batch.id, 0, 1000);
    expect(all.has_more).toBe(false);
    expect(all.data.map((item) => item.result)).toEqual(await readJsonl(sut.client, ended.error_file_id));
    expect(new Set(all.data.map((item) => (item.result as unknown as { error: { code: string } }).error.code))).toEqual(new Set(['batch_cancelled']));

    const bad = await fetch(`${sut.service.apiUrl}/batches/${batch.id}/results?limit=5000`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe('limit');
    expect((await fetch(`${sut.service.apiUrl}/batches/batch_nope/results`)).status).toBe(404);
  });
});
