import type { SchedulerGauges } from './gauges';
import type { Semaphore } from './semaphore';

/**
 * Where the depth starts before anything is known about a backend: its gauges, read within 250 ms,
 * find the rest in two readings. Starting at 256 instead queued up to 192 requests at each 64-slot
 * GPU before the first reading, in arrival order: a small batch of another tenant then waited behind
 * a big one's (fairness.test.ts failed by 2 s).
 */
export const INITIAL_DEPTH = 32;

/**
 * Where it starts once the backend turns out to export no gauges: vLLM's default `max_num_seqs`. A
 * deeper GPU is found from here in one round trip; a shallower one queues the difference for that
 * long. Starting at 32 instead cost a 1,024-deep GPU at 4 s a request two round trips at a quarter
 * and less of its depth.
 */
export const DEPTH_WITHOUT_GAUGES = 256;

/** One request the backend answered with a success: what the depth is found from when it exports no gauges. */
export type Completion = {
  /** performance.now() when the answer came. */
  at: number;
  latencyMs: number;
  /** Requests this worker had at the backend when it was sent, itself included. */
  inFlight: number;
};

/** A round's mean latency this far above the base means the backend queues what we send. */
const QUEUEING = 1.25;
/** A cut after which the backend delivers less than this share of its rate before took throughput, not a queue. */
const NO_RELIEF = 0.85;
/** The first requests sent to a backend, this many at the most, measure its base latency: any GPU runs that many at once. */
const BASE_PROBE = 32;
/** Rounds last a request's base latency, at least this long, so that a round's rate counts many requests. */
const MIN_ROUND_MS = 100;
/** The delivery rate is the best of this many rounds: a round that began idle does not hide the backend's speed. */
const RATE_ROUNDS = 4;

/**
 * How many requests this worker keeps at one backend. vLLM runs up to `max_num_seqs` sequences at
 * once (256 by default, 1,024 on large GPUs) and queues the rest, so the right depth is all it can
 * run plus a short queue that refills a finished slot at once: too shallow idles the GPU, too deep
 * only moves the queue into vLLM (where a crash of this worker loses it and timeouts run).
 *
 * The depth is found, not configured (the configured maximum is a ceiling):
 * - With scheduler gauges (vLLM's `num_requests_running`/`waiting`, SGLang's and TGI's equivalents)
 *   it grows while the backend queues little and we use all our slots (fourfold while it queues
 *   nothing), and sheds our share of a longer queue.
 * - Without them (a proxy, llama.cpp, metrics off), from the latencies of its answers, as
 *   delay-based congestion control does (TCP Vegas, BBR). The base latency is the mean of the first
 *   requests sent, before any answer came (the first 32: no GPU queues those). While answers come
 *   back that fast and work waits here, the depth leaps at once to that work (sixteenfold at most),
 *   so a 1,024-deep GPU is reached in one round trip. Then, per round of one base latency: a mean
 *   latency a quarter above the base means the backend queues; what it runs at once is its
 *   delivery rate times the base latency (Little's law, BBR's bandwidth-delay product), and the
 *   depth is cut to that plus a short queue (by half at most, and judged only on requests sent
 *   after the last cut, so a queue still draining is not cut for twice). A cut after which the
 *   latency does not fall was no queue but slower requests (longer outputs): the base becomes that
 *   latency and the depth is restored. Without a queue and with work waiting, it grows by an eighth.
 * Every overload (429, 503, timeout) cuts it by a quarter, as TCP's AIMD does.
 */
export class DepthController {
  private congested = false;
  private gaugesSeen = false;
  private baseMs = Infinity;
  /** The first requests' latencies, until they have all answered and make the base. */
  private probe: { before: number; latencies: number[] } | undefined;
  /** The latency that leaps are judged against until the base is known: the first answer's. */
  private firstMs = Infinity;
  private round: Round = { startedAt: 0, depthAtStart: 0, completed: 0, judged: 0, latencySum: 0, demand: false };
  /** Completions per ms of the last rounds. */
  private rates: number[] = [];
  /** The last cut, until a round of requests sent after it says whether it relieved a queue. */
  private cut: { drainedAt: number | undefined; depthBefore: number; rateBefore: number } | undefined;

  constructor(
    private readonly slots: Semaphore,
    private readonly ceiling: number,
  ) {}

  get depth(): number {
    return this.slots.capacity;
  }

  /** The backend answered a request with a success (2xx): without gauges, its latency is what moves the depth. */
  onCompletion(completion: Completion): void {
    if (this.gaugesSeen) return;
    const { at, latencyMs } = completion;
    if (this.firstMs === Infinity) {
      this.firstMs = latencyMs;
      this.probe = { before: at, latencies: [] };
      this.round = this.newRound(at);
    }
    this.measureBase(completion);
    const sentAt = at - latencyMs;
    const round = this.round;
    round.completed++;
    // A cut shows once the requests above the new depth have left: only those sent after that are judged.
    if (this.cut && this.cut.drainedAt === undefined && this.slots.active <= this.depth) this.cut.drainedAt = at;
    if (this.cut === undefined || (this.cut.drainedAt !== undefined && sentAt >= this.cut.drainedAt)) {
      round.latencySum += latencyMs;
      round.judged++;
    }
    round.demand ||= this.demand();
    // Answered as fast as an idle backend answers while work waits here: leap now, not a round later.
    if (!this.congested && this.demand() && latencyMs <= QUEUEING * Math.min(this.baseMs, this.firstMs)) this.leap(round.depthAtStart);
    if (this.baseMs !== Infinity && at - round.startedAt >= Math.max(MIN_ROUND_MS, this.baseMs)) this.endRound(at);
  }

  /** The backend exports no gauges: unless its answers have already been heard, start where a GPU without them most likely is. */
  onNoGauges(): void {
    if (this.firstMs === Infinity && !this.congested) this.set(Math.max(this.depth, DEPTH_WITHOUT_GAUGES));
  }

  /** The backend said it is overloaded (429, 503) or let a request time out. */
  onOverload(): void {
    this.congested = true;
    this.set(Math.floor(this.depth * 0.75));
  }

  onGauges({ running, waiting }: SchedulerGauges): void {
    this.gaugesSeen = true;
    const queueTarget = shortQueue(running);
    if (waiting > queueTarget) {
      // Other workers may share this backend: shed only our part of the excess, counted from what we
      // have in flight now, so a queue that has not drained since the last reading is not shed twice.
      const ourShare = Math.min(1, this.slots.active / Math.max(1, running + waiting));
      this.congested = true;
      this.set(Math.min(this.depth, this.slots.active - Math.ceil((waiting - queueTarget) * ourShare)));
    } else if (this.demand() && running + waiting >= this.slots.active) {
      // Nothing queued at the backend while we use every slot: it has room we cannot see yet. Growing
      // at once to what is queued here (fourfold at least, sixteenfold at most) reaches a 1,024-deep
      // GPU from 32 in two readings (0.5 s); doubling took five and cost the bench's deep profile
      // about 2 s of a full GPU. An overshoot is one reading's worth of queue at the backend, shed at the next.
      // Only a reading that shows all we have in flight says there is room: on a busy machine the
      // requests sent after the last leap may not have reached the backend yet, and leaping again on
      // their absence queued 236 requests at each 64-slot GPU of the fleet bench (bench/fleet.ts), each
      // of them a full 20-second wave, which the worker that sent them had to run alone.
      if (waiting === 0 && !this.congested) this.leap(this.depth);
      else this.grow();
    }
  }

  /** The base is the mean latency of the first requests sent, once every one of them has answered. */
  private measureBase({ at, latencyMs, inFlight }: Completion): void {
    const probe = this.probe;
    if (!probe || at - latencyMs >= probe.before || inFlight > BASE_PROBE) return;
    probe.latencies.push(latencyMs);
    if (probe.latencies.length < Math.min(BASE_PROBE, this.depth)) return;
    this.baseMs = average(probe.latencies);
    this.probe = undefined;
    this.round = this.newRound(at);
  }

  private endRound(at: number): void {
    const round = this.round;
    this.round = this.newRound(at);
    this.rates = [...this.rates, round.completed / (at - round.startedAt)].slice(-RATE_ROUNDS);
    // The answers of requests sent after the cut drained are judged only once the longest of them can
    // have come back too: the first to come are the shortest ones.
    if (round.judged === 0 || (this.cut && round.startedAt < this.cut.drainedAt! + 2 * this.baseMs)) return;
    const latency = round.latencySum / round.judged;
    const cut = this.cut;
    this.cut = undefined;
    if (cut && this.rates.at(-1)! < NO_RELIEF * cut.rateBefore) {
      // The last cut took throughput, not a queue: the requests take longer now (longer outputs), they were not queued.
      this.baseMs = latency;
      this.set(cut.depthBefore);
      return;
    }
    if (latency <= QUEUEING * this.baseMs) {
      this.baseMs = Math.min(this.baseMs, latency);
      if (round.demand && this.congested) this.grow();
      return;
    }
    // It queues. It runs its delivery rate times its base latency at once; keep that plus a short queue.
    const running = Math.max(...this.rates) * this.baseMs;
    const depth = Math.min(this.depth, Math.max(Math.ceil(running + shortQueue(running)), Math.floor(this.depth / 2)));
    this.congested = true;
    this.cut = { drainedAt: undefined, depthBefore: this.depth, rateBefore: average(this.rates) };
    this.set(depth);
  }

  private newRound(startedAt: number): Round {
    return { startedAt, depthAtStart: this.depth, completed: 0, judged: 0, latencySum: 0, demand: false };
  }

  /** Work waits here, or every slot is taken: the backend may have room we do not use. */
  private demand(): boolean {
    return this.slots.waiting > 0 || this.slots.active >= this.depth;
  }

  /** At once to the work queued here: fourfold at least, sixteenfold `from` at most. */
  private leap(from: number): void {
    this.set(Math.max(this.depth, Math.min(from * 16, Math.max(this.depth * 4, this.slots.active + this.slots.waiting))));
  }

  private grow(): void {
    this.set(this.depth + Math.max(1, Math.floor(this.depth / 8)));
  }

  private set(depth: number): void {
    this.slots.setCapacity(Math.max(1, Math.min(this.ceiling, depth)));
  }
}

/** The queue worth keeping at a backend running `running`: enough to refill finished slots at once. */
const shortQueue = (running: number) => Math.max(4, Math.ceil(running / 8));

/** One round: every answer counts toward its rate; only those of requests sent after the last cut toward its latency. */
type Round = { startedAt: number; depthAtStart: number; completed: number; judged: number; latencySum: number; demand: boolean };

function average(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}
