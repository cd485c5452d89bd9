import type OpenAI from 'openai';
import type { RunningSimulator } from '../../src/simulator/server';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';

const MODEL = 'sim-faults-model';
const MAX_INFLIGHT = 6;

/** How the pipeline treats each kind of backend failure, and how hard it pushes one backend. */
describe('backend faults and backpressure', () => {
  let sut: ServiceUnderTest<RunningSimulator>;
  let client: OpenAI;
  let simulator: RunningSimulator;

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      simulator: { models: [MODEL], capacity: 64, baseLatencyMs: 20, retryAfterSeconds: 1 },
      env: { MAX_INFLIGHT_PER_BACKEND: String(MAX_INFLIGHT), REQUEST_MAX_ATTEMPTS: '3', REQUEST_TIMEOUT_MS: '1500' },
    });
    ({ client, simulator } = sut);
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  test('transient faults are retried to success; persistent ones end in the error file', async () => {
    const cases: Array<[string, string]> = [
      ['rate-limited-once', '[[sim:429x1]]'],
      ['server-error-twice', '[[sim:500x2]]'],
      ['reset-once', '[[sim:resetx1]]'],
      ['hang-once', '[[sim:hangx1]]'],
      ['malformed-once', '[[sim:malformedx1]]'],
      ['always-500', '[[sim:500]]'],
      ['always-reset', '[[sim:reset]]'],
      ['always-429', '[[sim:429]]'],
      ['client-error', '[[sim:400]]'],
    ];
    const input = await uploadJsonl(
      client,
      cases.map(([id, marker]) => chatLine(id, MODEL, `${id} ${marker}`)),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 90_000);
    expect(batch.status).toBe('completed');

    const output = await readJsonl(client, batch.output_file_id);
    const errors = await readJsonl(client, batch.error_file_id);
    expectEachCustomIdOnce(
      cases.map(([id]) => id),
      output,
      errors,
    );
    expect(output.map((l) => l.custom_id)).toEqual(['rate-limited-once', 'server-error-twice', 'reset-once', 'hang-once', 'malformed-once']);
    for (const line of output) expect(line.response!.status_code).toBe(200);

    const byId = Object.fromEntries(errors.map((l) => [l.custom_id, l]));
    // Out of attempts: no response to show, an error object saying why.
    expect(byId['always-500']).toMatchObject({ response: null, error: { code: 'server_error', message: expect.stringContaining('3 attempts') } });
    expect(byId['always-reset']).toMatchObject({ response: null, error: { code: 'connection_error' } });
    expect(byId['always-429']).toMatchObject({ response: null, error: { code: 'rate_limited' } });
    // Other 4xx are final at once, with the backend's response.
    expect(byId['client-error']).toMatchObject({ error: null, response: { status_code: 400 } });
    expect(batch.request_counts).toEqual({ total: 9, completed: 5, failed: 4 });
    // Each persistent fault was charged its 3 attempts. Server failures that came in a run long
    // enough to take the backend out of rotation were not charged (nor retried at once): the 500s
    // and resets may have been seen more often than that, never less; a 429 is always charged.
    const faults = simulator.stats().faults;
    expect(faults).toMatchObject({ '429': 1 + 3, hang: 1, malformed: 1, '400': 1 });
    expect(faults['500']).toBeGreaterThanOrEqual(2 + 3);
    expect(faults.reset).toBeGreaterThanOrEqual(1 + 3);
  });

  test(`never more than MAX_INFLIGHT_PER_BACKEND (${MAX_INFLIGHT}) requests at the backend, and that many when there is work`, async () => {
    const before = simulator.stats().peakInService;
    expect(before).toBeLessThanOrEqual(MAX_INFLIGHT);
    // The faults above were overloads (429, a timeout) that cut the depth; with work and a backend
    // that queues nothing, it climbs back (by at least one per gauge reading) to the ceiling.
    const ids = Array.from({ length: 1500 }, (_, i) => `load-${i}`);
    const input = await uploadJsonl(
      client,
      ids.map((id) => chatLine(id, MODEL, id)),
    );
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status));
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 1500, completed: 1500, failed: 0 });
    expect(simulator.stats().peakInService).toBe(MAX_INFLIGHT);
  });
});
