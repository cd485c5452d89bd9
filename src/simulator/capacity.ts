/**
 * At most `capacity` requests in service, the rest wait in arrival order: the shape of
 * continuous batching with a maximum batch size, which is what clients of vLLM experience.
 */
export class CapacityLimiter {
  private active = 0;
  private peakActive = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly capacity: number) {}

  get inService(): number {
    return this.active;
  }

  get peak(): number {
    return this.peakActive;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once admitted; rejects if `signal` aborts first (client gave up). */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.active < this.capacity) {
      this.active += 1;
      this.peakActive = Math.max(this.peakActive, this.active);
    } else {
      await this.wait(signal);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.handOff();
    };
  }

  private wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const admit = () => {
        signal.removeEventListener('abort', abandon);
        resolve();
      };
      const abandon = () => {
        this.waiting.splice(this.waiting.indexOf(admit), 1);
        reject(signal.reason);
      };
      this.waiting.push(admit);
      signal.addEventListener('abort', abandon, { once: true });
    });
  }

  // The freed slot passes straight to the oldest waiter, so a newcomer can never overtake the queue.
  private handOff(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }
}
