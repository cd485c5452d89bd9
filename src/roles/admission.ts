import type { ActivitySlotInfo, CustomSlotSupplier, SlotPermit, SlotReserveContext } from '@temporalio/worker';
import type { BackendPool } from '../inference/backends';

/** How often a waiting lease looks at the backends again: a chunk's requests take far longer. */
const RECHECK_MS = 25;

/**
 * Admission of one model's chunks into a GPU worker, as Temporal activity slots: the worker leases
 * the next chunk only when the backends serving the model are about to run dry — fewer requests
 * waiting for them than they run at once — so the next chunk is there before the current one
 * drains, and no more. A worker then holds about one chunk plus the next, not a fixed number: the rest of a batch stays in the task
 * queue for other workers (a newly added one finds work at once), bodies are loaded only for work
 * about to run, and a small batch of another tenant gets a slot without waiting behind thousands
 * of queued requests. A worker whose backends are all down holds only `min` chunks.
 *
 * One lease is in the air at a time: a chunk counts as "starting" from the moment its task arrives
 * until its requests are queued (`chunkQueued`), since until then the backends' queue does not show it.
 */
export class ChunkAdmission implements CustomSlotSupplier<ActivitySlotInfo> {
  readonly type = 'custom';
  private reserved = 0;
  private used = 0;
  private starting = 0;

  constructor(
    private readonly pool: BackendPool,
    private readonly model: string,
    private readonly limits: { min: number; max: number },
    /** The endpoints of the task queue's kind: only backends serving the model at one of them count. */
    private readonly endpoints?: readonly string[],
  ) {}

  async reserveSlot(_ctx: SlotReserveContext, abortSignal: AbortSignal): Promise<SlotPermit> {
    while (!this.canAdmit()) {
      // The SDK aborts reservations at shutdown and expects its own reason back; anything else it logs as an error.
      if (abortSignal.aborted) throw abortSignal.reason;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(timer);
          reject(abortSignal.reason);
        };
        const timer = setTimeout(() => {
          abortSignal.removeEventListener('abort', onAbort);
          resolve();
        }, RECHECK_MS);
        abortSignal.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.reserved++;
    return {};
  }

  tryReserveSlot(): SlotPermit | null {
    if (!this.canAdmit()) return null;
    this.reserved++;
    return {};
  }

  markSlotUsed(): void {
    this.used++;
    this.starting++;
  }

  releaseSlot(ctx: { slotInfo?: ActivitySlotInfo }): void {
    this.reserved--;
    if (ctx.slotInfo) this.used--;
  }

  /** The chunk that arrived last has queued its requests (or ended before it could). */
  chunkQueued(): void {
    this.starting = Math.max(0, this.starting - 1);
  }

  private canAdmit(): boolean {
    if (this.reserved < this.limits.min) return true;
    if (this.reserved >= this.limits.max) return false;
    const polling = this.reserved - this.used;
    if (polling > 0 || this.starting > 0) return false;
    const { waiting, depth } = this.pool.queueState(this.model, this.endpoints);
    return waiting < depth;
  }
}
