import type { RunningSimulator } from '../../src/simulator/server';
import { chatLine, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';

const MODEL = 'sim-fleet-window-model';
/** The GPU: this many requests in service at once, the rest queued (as vLLM's max_num_seqs). */
const SLOTS = 512;
/** Small chunks, so the old fixed window of 16 chunks (320 requests) is far below the GPU's slots. */
const CHUNK_SIZE = 20;
const FIXED_WINDOW = 16;
/** 200 chunks, about 25 s at 512 × 3 s once the GPU is full. */
const LINES = 4_000;

/**
 * Issue 27: a lone batch fills whatever fleet serves its model. Its window of chunks in flight
 * follows the depth the GPU worker finds for its backend (reported with its heartbeat), not a
 * constant: with a fixed window of 16 chunks of 20 at most 320 of the batch's requests could be in
 * service at once, whatever the GPU holds.
 */
describe("a batch's window follows the fleet", () => {
  let sut: ServiceUnderTest<RunningSimulator>;

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      // 3 s a request: the GPU, not the pipeline, is the bottleneck (about 170 requests/s when full).
      simulator: { models: [MODEL], capacity: SLOTS, baseLatencyMs: 3_000 },
      env: { CHUNK_SIZE: String(CHUNK_SIZE), CHUNKS_IN_FLIGHT_PER_BATCH: String(FIXED_WINDOW) },
    });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  test(`a lone batch of chunks of ${CHUNK_SIZE} fills a GPU of ${SLOTS} slots, far beyond ${FIXED_WINDOW} chunks' worth`, async () => {
    const { client, simulator } = sut;
    const lines = Array.from({ length: LINES }, (_, i) => chatLine(`fleet-${i}`, MODEL, `fleet ${i}`, { max_tokens: 4 }));
    const input = await uploadJsonl(client, lines);
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 150_000);
    const { peakInService } = simulator.stats();
    console.log(`fleet window: peak ${peakInService} of ${SLOTS} slots in service (a fixed window of ${FIXED_WINDOW} chunks holds ${FIXED_WINDOW * CHUNK_SIZE})`);

    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: LINES, completed: LINES, failed: 0 } });
    expect(peakInService).toBeGreaterThan(FIXED_WINDOW * CHUNK_SIZE);
    expect(peakInService).toBeGreaterThanOrEqual(0.95 * SLOTS);
  });
});
