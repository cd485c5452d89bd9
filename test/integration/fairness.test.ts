import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { chatLine, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { unique } from '../support/api';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';

const MODEL = 'sim-fairness-model';
/** Forty chunks of 500: far more than the 16 a batch schedules at once, and than a worker holds. */
const BIG = 20_000;
const SMALL = 10;
/** README ("Fairness and priority"): a small batch behind a huge one finishes within this of what it takes alone. */
const FAIRNESS_BOUND_MS = 3_000;
/** Small batches measured behind the big one, staggered over a lease cycle (below). */
const SAMPLES = 3;
/** Longer than any wait for a lease measured here (6 s at most), far shorter than first-come (~45 s). */
const STUCK_MS = 10_000;

const lines = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => chatLine(`${prefix}-${i}`, MODEL, `${prefix} ${i}`, { max_tokens: 4 }));

/**
 * Issue 8: a small batch is not stuck behind a huge one of another tenant; and `metadata.priority`
 * puts a later batch ahead of an earlier one. The huge batch schedules 16 chunks of 500 at once (the
 * defaults) for a backend of 64 slots. Every bound is measured against this run's own work, on this
 * service, so a loaded machine slows both sides alike.
 */
describe('fairness between tenants, and priority', () => {
  const [keyBig, keySmall, keyPriority] = [unique('sk-big'), unique('sk-small'), unique('sk-priority')];
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      // 64 slots of 400 ms: 160 requests/s, slow enough that the service itself idles between them.
      simulator: { models: [MODEL], capacity: 64, baseLatencyMs: 400 },
      env: {
        API_KEYS: `${keyBig}:${unique('big')},${keySmall}:${unique('small')},${keyPriority}:${unique('priority')}`,
        MAX_REQUESTS_PER_BATCH: String(BIG),
      },
      apiKey: keyBig,
    });
  });

  afterAll(async () => {
    expect(await sut?.stop()).toBe(0);
  });

  async function create(client: OpenAI, prefix: string, count: number, metadata?: Record<string, string>) {
    const input = await uploadJsonl(client, lines(prefix, count));
    return client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata });
  }

  /** Runs a SMALL-request batch to its end; how long it took from create, upload excluded. */
  async function runSmall(client: OpenAI, prefix: string): Promise<{ batch: Batch; elapsedMs: number }> {
    const input = await uploadJsonl(client, lines(prefix, SMALL));
    const started = Date.now();
    const created = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const batch = await waitForBatch(client, created.id, (b) => TERMINAL.includes(b.status), 120_000);
    return { batch, elapsedMs: Date.now() - started };
  }

  async function cancelAndWait(client: OpenAI, batchId: string) {
    await client.batches.cancel(batchId);
    await waitForBatch(client, batchId, (b) => TERMINAL.includes(b.status), 60_000);
  }

  test(`a ${SMALL}-request batch behind a ${BIG}-request batch of another tenant finishes within ${FAIRNESS_BOUND_MS / 1000} s of its own time alone`, async () => {
    const big = sut.client;
    const small = sut.clientAs(keySmall);
    // Its own work: the same batch on the idle backend, now, on this machine (the better of two runs: the first may pay for cold code).
    const aloneMs = Math.min((await runSmall(small, 'alone-1')).elapsedMs, (await runSmall(small, 'alone-2')).elapsedMs);

    const bigBatch = await create(big, 'big', BIG);
    // Wait until the worker holds a deep queue of the big batch's requests.
    await waitForBatch(big, bigBatch.id, (b) => b.request_counts!.completed >= 500, 120_000);
    const bigBefore = (await big.batches.retrieve(bigBatch.id)).request_counts!.completed;
    const behind: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const { batch, elapsedMs } = await runSmall(small, `behind-${i}`);
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: SMALL, completed: SMALL, failed: 0 } });
      behind.push(elapsedMs);
      // Created at another point of the worker's lease cycle each time.
      await new Promise((resolve) => setTimeout(resolve, 400 + i * 700));
    }
    const bigMeanwhile = (await big.batches.retrieve(bigBatch.id)).request_counts!.completed - bigBefore;
    const median = [...behind].sort((a, b) => a - b)[Math.floor(SAMPLES / 2)]!;
    console.log(
      `fairness: ${SMALL}-request batches took ${behind.join(', ')} ms behind the big one (${aloneMs} ms alone); the big one completed ${bigMeanwhile} requests meanwhile`,
    );

    // First-come, a small batch would wait for the ~7,500 requests that a worker holding all 16
    // chunks of the big batch has queued ahead of it (about 45 s). Leased as the backend needs work,
    // a worker holds about one chunk plus the next; the small batch's chunk is the next lease (tenants
    // take turns in the task queue) and its requests take turns with the big batch's at the backend.
    // The next lease comes once the held chunk has nearly drained, once per CHUNK_SIZE / throughput
    // (500 / 160 per second here, ~3 s), so a batch created just after a lease waits up to that; and
    // in the big batch's first seconds the worker, finding the backend's depth, has put a chunk into
    // the backend's own queue and leased two more, so one created then waits about twice as long. The
    // typical small batch (the median) is held to the bound; none may be stuck.
    expect(median).toBeLessThanOrEqual(aloneMs + FAIRNESS_BOUND_MS);
    expect(Math.max(...behind)).toBeLessThanOrEqual(aloneMs + STUCK_MS);
    expect((await big.batches.retrieve(bigBatch.id)).status).toBe('in_progress');
    await cancelAndWait(big, bigBatch.id);
  });

  test('a priority-1 batch submitted after a batch of default priority, same tenant, on a busy backend, completes first', async () => {
    const client = sut.clientAs(keyPriority);
    const [EARLIER, LATER] = [3_000, 500];
    // Six chunks: more than a worker holds at once (about one plus the next), so most wait in the task queue.
    const earlier = await create(client, 'default-priority', EARLIER);
    await waitForBatch(client, earlier.id, (b) => b.request_counts!.completed >= 200, 60_000);
    const later = await create(client, 'first-priority', LATER, { priority: '1' });
    const done = await waitForBatch(client, later.id, (b) => TERMINAL.includes(b.status), 60_000);
    const earlierThen = await client.batches.retrieve(earlier.id);
    console.log(`priority: the priority-1 batch of ${LATER} completed while the earlier one had ${earlierThen.request_counts!.completed} of ${EARLIER} done`);

    expect(done).toMatchObject({ status: 'completed', request_counts: { total: LATER, completed: LATER, failed: 0 } });
    // Same tenant, so no turns between them: without priority the later batch's chunk would be leased
    // after every chunk of the earlier one, and its requests queued behind the earlier one's.
    expect(earlierThen.status).toBe('in_progress');
    expect(earlierThen.request_counts!.completed).toBeLessThanOrEqual(EARLIER - LATER);
    await cancelAndWait(client, earlier.id);
  });
});
