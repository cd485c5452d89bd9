/** Whose turn a waiter is: lower `priority` first (1–5, as Temporal's keys), then round-robin over `key`s. */
export type Claim = { priority: number; key: string };

const ANYONE: Claim = { priority: 3, key: '' };

/**
 * A counting semaphore whose capacity can move (the depth controller sets it). Waiters are served
 * by priority, then in turns across keys (tenants), first-come within a key: a 10-request batch
 * queued behind a million-request one of another tenant gets every other free slot, not the
 * millionth. Lowering the capacity takes effect as slots return.
 */
export class Semaphore {
  private inUse = 0;
  private queued = 0;
  /** priority → key → waiters; a key moves to the back of its level's order each time it is served. */
  private readonly levels = new Map<number, Map<string, Array<() => void>>>();

  constructor(private limit: number) {}

  get capacity(): number {
    return this.limit;
  }

  get active(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.queued;
  }

  setCapacity(capacity: number): void {
    this.limit = capacity;
    while (this.inUse < this.limit && this.queued > 0) {
      this.inUse++;
      this.next()!();
    }
  }

  async acquire(signal?: AbortSignal, claim: Claim = ANYONE): Promise<void> {
    signal?.throwIfAborted();
    if (this.inUse < this.limit && this.queued === 0) {
      this.inUse++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        if (this.remove(claim, grant)) reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.enqueue(claim, grant);
    });
  }

  /** Hands the slot straight to the next waiter (unless over capacity), so a newcomer cannot jump the queue. */
  release(): void {
    const next = this.inUse <= this.limit ? this.next() : undefined;
    if (next) next();
    else this.inUse--;
  }

  private enqueue({ priority, key }: Claim, grant: () => void): void {
    if (!this.levels.has(priority)) {
      this.levels.set(priority, new Map());
      // Keep levels in priority order: few levels, rare insertions.
      const sorted = [...this.levels.entries()].sort(([a], [b]) => a - b);
      this.levels.clear();
      for (const [level, keys] of sorted) this.levels.set(level, keys);
    }
    const keys = this.levels.get(priority)!;
    const waiters = keys.get(key);
    if (waiters) waiters.push(grant);
    else keys.set(key, [grant]);
    this.queued++;
  }

  private next(): (() => void) | undefined {
    for (const [priority, keys] of this.levels) {
      for (const [key, waiters] of keys) {
        const grant = waiters.shift()!;
        keys.delete(key);
        if (waiters.length > 0) keys.set(key, waiters); // to the back: the next key's turn
        if (keys.size === 0) this.levels.delete(priority);
        this.queued--;
        return grant;
      }
    }
    return undefined;
  }

  private remove({ priority, key }: Claim, grant: () => void): boolean {
    const keys = this.levels.get(priority);
    const waiters = keys?.get(key);
    const index = waiters?.indexOf(grant) ?? -1;
    if (index < 0) return false;
    waiters!.splice(index, 1);
    if (waiters!.length === 0) keys!.delete(key);
    if (keys!.size === 0) this.levels.delete(priority);
    this.queued--;
    return true;
  }
}
