import { Semaphore } from './semaphore';

export type Backend = { baseUrl: string; slots: Semaphore };

/**
 * The vLLM servers this process sends to, each with its own in-flight bound shared by every chunk of
 * every batch in the process: enough to keep a continuous-batching server full, never more.
 */
export class BackendPool {
  readonly backends: Backend[];

  constructor(baseUrls: string[], maxInflightPerBackend: number) {
    if (baseUrls.length === 0) throw new Error('BackendPool needs at least one base URL');
    this.backends = baseUrls.map((baseUrl) => ({ baseUrl, slots: new Semaphore(maxInflightPerBackend) }));
  }

  /** Waits for a slot on the least busy backend; the caller must call the returned release exactly once. */
  async acquire(signal?: AbortSignal): Promise<{ backend: Backend; release: () => void }> {
    const backend = this.backends.reduce((best, b) => (load(b) < load(best) ? b : best));
    await backend.slots.acquire(signal);
    let released = false;
    return {
      backend,
      release: () => {
        if (released) return;
        released = true;
        backend.slots.release();
      },
    };
  }
}

const load = (b: Backend) => (b.slots.active + b.slots.waiting) / b.slots.capacity;
