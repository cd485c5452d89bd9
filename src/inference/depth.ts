import type { Semaphore } from './semaphore';

/** What vLLM's `/metrics` says about its scheduler, summed over its models and engines. */
export type SchedulerGauges = { running: number; waiting: number };

/** Where the depth starts before anything is known about a backend. */
export const INITIAL_DEPTH = 32;

/**
 * How many requests this worker keeps at one backend. vLLM runs up to `max_num_seqs` sequences at
 * once (256 by default, 1,024 on large GPUs) and queues the rest, so the right depth is all it can
 * run plus a short queue that refills a finished slot at once: too shallow idles the GPU, too deep
 * only moves the queue into vLLM (where a crash of this worker loses it and timeouts run).
 *
 * The depth is found, not configured (the configured maximum is a ceiling): with vLLM's gauges
 * (`num_requests_running`, `num_requests_waiting`) it grows while the backend queues little and
 * we use all our slots (fourfold while it queues nothing), and sheds our share of a longer queue;
 * without them it doubles per full round of successes until the first overload (429, 503,
 * timeout), then grows by an eighth. Every overload cuts it by a quarter, as TCP's AIMD does.
 */
export class DepthController {
  private successes = 0;
  private congested = false;
  private gaugesSeen = false;

  constructor(
    private readonly slots: Semaphore,
    private readonly ceiling: number,
  ) {}

  get depth(): number {
    return this.slots.capacity;
  }

  /** A request finished normally; without gauges, full rounds of these are what grows the depth. */
  onSuccess(): void {
    if (this.gaugesSeen || ++this.successes < this.depth) return;
    this.successes = 0;
    this.grow();
  }

  /** The backend said it is overloaded (429, 503) or let a request time out. */
  onOverload(): void {
    this.congested = true;
    this.successes = 0;
    this.set(Math.floor(this.depth * 0.75));
  }

  onGauges({ running, waiting }: SchedulerGauges): void {
    this.gaugesSeen = true;
    const queueTarget = Math.max(4, Math.ceil(running / 8));
    if (waiting > queueTarget) {
      // Other workers may share this backend: shed only our part of the excess, counted from what we
      // have in flight now, so a queue that has not drained since the last reading is not shed twice.
      const ourShare = Math.min(1, this.slots.active / Math.max(1, running + waiting));
      this.congested = true;
      this.set(Math.min(this.depth, this.slots.active - Math.ceil((waiting - queueTarget) * ourShare)));
    } else if (this.slots.waiting > 0 || this.slots.active >= this.depth) {
      // Nothing queued at the backend while we use every slot: it has room we cannot see yet. Growing
      // at once to what is queued here (fourfold at least, sixteenfold at most) reaches a 1,024-deep
      // GPU from 32 in two readings (0.5 s); doubling took five and cost the bench's deep profile
      // about 2 s of a full GPU. An overshoot is one reading's worth of queue at the backend, shed at the next.
      if (waiting === 0 && !this.congested) this.set(Math.min(this.depth * 16, Math.max(this.depth * 4, this.slots.active + this.slots.waiting)));
      else this.grow(2);
    }
  }

  private grow(factor = 2): void {
    this.set(this.congested ? this.depth + Math.max(1, Math.floor(this.depth / 8)) : this.depth * factor);
  }

  private set(depth: number): void {
    this.slots.setCapacity(Math.max(1, Math.min(this.ceiling, depth)));
  }
}

/** Sums vLLM's scheduler gauges out of Prometheus text; undefined when the backend exports none. */
export function parseSchedulerGauges(text: string): SchedulerGauges | undefined {
  let found = false;
  const sum = { running: 0, waiting: 0 };
  for (const line of text.split('\n')) {
    const match = /^vllm:num_requests_(running|waiting)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (!Number.isFinite(value)) continue;
    sum[match[1] as 'running' | 'waiting'] += value;
    found = true;
  }
  return found ? sum : undefined;
}
