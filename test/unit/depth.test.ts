import { DepthController, DEPTH_WITHOUT_GAUGES, INITIAL_DEPTH } from '../../src/inference/depth';
import { parseSchedulerGauges } from '../../src/inference/gauges';
import { Semaphore } from '../../src/inference/semaphore';

/** Fills every slot of `slots`, as a worker with more work than depth does. */
async function saturate(slots: Semaphore): Promise<void> {
  while (slots.active < slots.capacity) await slots.acquire();
}

describe('DepthController', () => {
  test('with vLLM gauges it climbs to the depth the backend runs, then sheds a queue beyond a short one', async () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    // A backend running up to 256 at once, queueing the rest; all of its work is ours.
    const gauges = () => ({ running: Math.min(256, slots.active), waiting: Math.max(0, slots.active - 256) });
    for (let round = 0; round < 3; round++) {
      await saturate(slots);
      controller.onGauges(gauges());
    }
    expect(slots.active).toBe(512); // fourfold while nothing queues: 32, 128, 512, past it once
    // Then sheds the excess beyond a queue of max(4, 256/8) = 32.
    expect(controller.depth).toBe(256 + 32);
    // And settles around it: a full, short-queued backend grows by an eighth at most, never doubles again.
    for (let round = 0; round < 20; round++) controller.onGauges(gauges());
    expect(controller.depth).toBeGreaterThanOrEqual(256);
    expect(controller.depth).toBeLessThanOrEqual(256 + 32 + 36);
  });

  test('reaches a 1,024-deep backend and never passes the ceiling', async () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    const depths: number[] = [];
    for (let round = 0; round < 50; round++) {
      await saturate(slots);
      controller.onGauges({ running: slots.active, waiting: 0 });
      depths.push(controller.depth);
    }
    // Three gauge readings (1.5 s at the pool's 500 ms) from the initial 32.
    expect(depths.slice(0, 3)).toEqual([128, 512, 1024]);
    expect(Math.max(...depths)).toBe(1024);
  });

  test('grows at once to the requests queued here while the backend queues none, sixteenfold at most', async () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    const queue = (n: number) => Array.from({ length: n }, () => void slots.acquire());
    await saturate(slots);
    queue(468); // a chunk of 500 arrived
    controller.onGauges({ running: 32, waiting: 0 });
    expect(controller.depth).toBe(500);
    expect(slots.active).toBe(500);
    queue(2_000); // more chunks than any depth
    controller.onGauges({ running: 500, waiting: 0 });
    expect(controller.depth).toBe(1024);
    // From a small depth the jump is bounded: an overshoot is shed at the next reading.
    const small = new Semaphore(4);
    const bounded = new DepthController(small, 1024);
    await saturate(small);
    Array.from({ length: 500 }, () => void small.acquire());
    bounded.onGauges({ running: 4, waiting: 0 });
    expect(bounded.depth).toBe(64);
  });

  test('a reading that does not yet show every request in flight does not grow the depth', async () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    await saturate(slots);
    controller.onGauges({ running: 32, waiting: 0 });
    expect(controller.depth).toBe(128);
    await saturate(slots);
    // The 96 sent after the leap have not reached the backend (a busy machine): its gauges still say 32.
    controller.onGauges({ running: 32, waiting: 0 });
    expect(controller.depth).toBe(128);
    controller.onGauges({ running: 64, waiting: 64 });
    // Once they show, it is found: 64 running, a short queue kept.
    expect(controller.depth).toBe(64 + 8);
  });

  test('idle slots do not grow the depth', () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    controller.onGauges({ running: 3, waiting: 0 });
    expect(controller.depth).toBe(32);
  });
});

/**
 * A GPU without gauges, in virtual time: it runs `capacity` requests at once and queues the rest in
 * arrival order; a worker with endless work keeps `controller.depth` of them there. Returns what
 * the GPU ran at each instant, and the depths over time.
 */
function simulate(options: { capacity: number; serviceMs: (sent: number, i: number) => number; untilMs: number; overloadAboveQueue?: number }) {
  const slots = new Semaphore(INITIAL_DEPTH);
  const controller = new DepthController(slots, 1024);
  // The first reading of /metrics finds none, before any answer.
  controller.onNoGauges();
  // Work queued at the worker: its waiters are granted synchronously as slots free.
  const topUp = () => {
    while (slots.waiting < 4096) void slots.acquire();
  };
  topUp();
  type Request = { sentAt: number; inFlight: number; index: number };
  const queue: Request[] = [];
  const running: Array<{ request: Request; doneAt: number }> = [];
  let atServer = 0;
  let sent = 0;
  let now = 0;
  const serve = () => {
    while (running.length < options.capacity && queue.length > 0) {
      const request = queue.shift()!;
      running.push({ request, doneAt: now + options.serviceMs(now, request.index) });
    }
  };
  const send = () => {
    topUp();
    while (atServer < slots.active) {
      atServer++;
      queue.push({ sentAt: now, inFlight: atServer, index: sent++ });
    }
    serve();
  };
  send();
  const samples: Array<{ at: number; depth: number; inService: number; atServer: number }> = [];
  let completed = 0;
  while (now < options.untilMs) {
    running.sort((a, b) => a.doneAt - b.doneAt);
    const next = running.shift()!;
    now = next.doneAt;
    atServer--;
    completed++;
    slots.release();
    controller.onCompletion({ at: now, latencyMs: now - next.request.sentAt, inFlight: next.request.inFlight });
    send();
    samples.push({ at: now, depth: controller.depth, inService: running.length, atServer });
  }
  /** The depth at `at`. */
  const depthAt = (at: number) => [...samples].reverse().find((s) => s.at <= at)?.depth ?? DEPTH_WITHOUT_GAUGES;
  /** The fewest requests the GPU ran at any moment from `from` on. */
  const leastInService = (from: number) => Math.min(...samples.filter((s) => s.at >= from).map((s) => s.inService));
  return { completed, depthAt, leastInService, samples, final: controller.depth };
}

describe('DepthController without gauges', () => {
  test('reaches a 1,024-deep GPU at 4 s a request in one round trip, and keeps it full', () => {
    const gpu = simulate({ capacity: 1024, serviceMs: () => 4000, untilMs: 56_000 });
    expect(gpu.depthAt(3_999)).toBe(DEPTH_WITHOUT_GAUGES);
    expect(gpu.depthAt(4_000)).toBe(1024);
    expect(gpu.leastInService(4_000)).toBe(1024);
    // A client holding 1,024 open all along has 13 rounds of 1,024 back before 56 s; the first round at 256 is all we lose.
    expect(gpu.completed).toBeGreaterThanOrEqual(13 * 1024 - (1024 - DEPTH_WITHOUT_GAUGES));
  });

  for (const [name, capacity, serviceMs] of [
    ['256 × 2 s', 256, 2000],
    ['64 × 50 ms', 64, 50],
  ] as const) {
    test(`${name}: never lets the GPU run short, then keeps only a short queue there`, () => {
      const gpu = simulate({ capacity, serviceMs: () => serviceMs, untilMs: 80 * serviceMs });
      // From the first answer on, the GPU always has every slot busy.
      expect(gpu.leastInService(serviceMs)).toBe(capacity);
      // The overshoot of the first leap is shed within a few rounds, to what it runs plus a queue. A GPU
      // whose requests all take the same time answers in lockstep waves: a queue of under half of what it
      // runs raises the mean latency by less than a quarter, so the queue settles below that, not at an eighth.
      const settled = gpu.samples.filter((s) => s.at >= 40 * serviceMs);
      expect(Math.min(...settled.map((s) => s.depth))).toBeGreaterThanOrEqual(capacity);
      expect(Math.max(...settled.map((s) => s.atServer))).toBeLessThanOrEqual(Math.ceil(capacity * 1.7));
    });
  }

  test('requests of unequal length (a tenth to twice the mean) still keep the GPU full, and a slower mix is not read as a queue', () => {
    // A deterministic spread of service times, which becomes twice as slow halfway through.
    const spread = (i: number) => 0.1 + ((i * 7919) % 1000) / 526;
    const gpu = simulate({ capacity: 256, serviceMs: (sent, i) => 1000 * spread(i) * (sent >= 30_000 ? 2 : 1), untilMs: 60_000 });
    expect(gpu.leastInService(2_000)).toBeGreaterThanOrEqual(0.95 * 256);
    expect(gpu.final).toBeGreaterThanOrEqual(256);
    expect(gpu.final).toBeLessThanOrEqual(2 * 256);
  });

  test('overload answers cut the depth by a quarter, to one at the least', () => {
    const slots = new Semaphore(64);
    const controller = new DepthController(slots, 1024);
    controller.onOverload();
    expect(controller.depth).toBe(48);
    for (let i = 0; i < 20; i++) controller.onOverload();
    expect(controller.depth).toBe(1);
  });

  test('a worker with gauges ignores latencies', async () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    controller.onGauges({ running: 0, waiting: 0 });
    await saturate(slots);
    for (let at = 0; at < 1000; at += 10) controller.onCompletion({ at, latencyMs: at < 500 ? 10 : 100, inFlight: 32 });
    expect(controller.depth).toBe(32);
  });
});

describe('parseSchedulerGauges', () => {
  test('sums the running and waiting gauges over every label set', () => {
    const text = [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{engine="0",model_name="tiny"} 12.0',
      'vllm:num_requests_running{engine="1",model_name="tiny"} 3.0',
      'vllm:num_requests_waiting{engine="0",model_name="tiny"} 5.0',
      'vllm:num_requests_waiting_by_reason{reason="capacity"} 99',
      'vllm:gpu_cache_usage_perc{model_name="tiny"} 0.5',
    ].join('\n');
    expect(parseSchedulerGauges(text)).toEqual({ running: 15, waiting: 5 });
  });

  test("reads SGLang's and TGI's gauges too", () => {
    expect(parseSchedulerGauges('sglang:num_running_reqs{model_name="m"} 40\nsglang:num_queue_reqs{model_name="m"} 2\n')).toEqual({ running: 40, waiting: 2 });
    expect(parseSchedulerGauges('# TYPE tgi_queue_size gauge\ntgi_queue_size 7\ntgi_batch_current_size 31\n')).toEqual({ running: 31, waiting: 7 });
  });

  test('is undefined for a server that exports no scheduler gauges', () => {
    expect(parseSchedulerGauges('process_cpu_seconds_total 1.5\n')).toBeUndefined();
  });
});
