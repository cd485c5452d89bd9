/**
 * A FIFO counting semaphore whose capacity can move (the depth controller sets it): waiters are
 * served in arrival order so no chunk starves. Lowering the capacity takes effect as slots return.
 */
export class Semaphore {
  private inUse = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private limit: number) {}

  get capacity(): number {
    return this.limit;
  }

  get active(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  setCapacity(capacity: number): void {
    this.limit = capacity;
    while (this.inUse < this.limit && this.waiters.length > 0) {
      this.inUse++;
      this.waiters.shift()!();
    }
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.inUse < this.limit) {
      this.inUse++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(grant);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  /** Hands the slot straight to the next waiter (unless over capacity), so a newcomer cannot jump the queue. */
  release(): void {
    const next = this.inUse <= this.limit ? this.waiters.shift() : undefined;
    if (next) next();
    else this.inUse--;
  }
}
