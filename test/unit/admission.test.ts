import type { SlotReserveContext } from '@temporalio/worker';
import type { BackendPool } from '../../src/inference/backends';
import { ChunkAdmission } from '../../src/roles/admission';

/** The backends' queue as admission sees it, set by each test. */
function backends(state: { waiting: number; depth: number }): BackendPool {
  return { queueState: () => state } as unknown as BackendPool;
}

const ctx = {} as SlotReserveContext;
const never = new AbortController().signal;

describe('ChunkAdmission', () => {
  test('the first chunk is always leased; the next only once its requests are queued and the backends are about to run dry', async () => {
    const queue = { waiting: 0, depth: 1024 };
    const admission = new ChunkAdmission(backends(queue), 'm', { min: 1, max: 64 });
    await admission.reserveSlot(ctx, never);
    admission.markSlotUsed();
    // The chunk has arrived but not queued its requests: nothing more yet, even with empty backends.
    expect(admission.tryReserveSlot()).toBeNull();
    admission.chunkQueued();
    queue.waiting = 1024;
    expect(admission.tryReserveSlot()).toBeNull();
    queue.waiting = 1023;
    expect(admission.tryReserveSlot()).not.toBeNull();
  });

  test('a reservation waiting for the backends ends with the abort reason the worker gave it', async () => {
    const admission = new ChunkAdmission(backends({ waiting: 5_000, depth: 1024 }), 'm', { min: 0, max: 64 });
    const shutdown = new AbortController();
    const waiting = admission.reserveSlot(ctx, shutdown.signal);
    const reason = new Error('worker shutting down');
    shutdown.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    // Already aborted: refused at once, with the same reason.
    await expect(admission.reserveSlot(ctx, shutdown.signal)).rejects.toBe(reason);
  });
});
