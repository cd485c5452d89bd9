import { DepthController, parseSchedulerGauges } from '../../src/inference/depth';
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

  test('idle slots do not grow the depth', () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    controller.onGauges({ running: 3, waiting: 0 });
    expect(controller.depth).toBe(32);
  });

  test('without gauges: doubles per full round of successes, cuts by a quarter on overload, then grows by an eighth', () => {
    const slots = new Semaphore(32);
    const controller = new DepthController(slots, 1024);
    for (let i = 0; i < 32; i++) controller.onSuccess();
    expect(controller.depth).toBe(64);
    controller.onOverload();
    expect(controller.depth).toBe(48);
    for (let i = 0; i < 48; i++) controller.onSuccess();
    expect(controller.depth).toBe(54);
    for (let i = 0; i < 20; i++) controller.onOverload();
    expect(controller.depth).toBe(1);
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

  test('is undefined for a server that exports no vLLM gauges', () => {
    expect(parseSchedulerGauges('process_cpu_seconds_total 1.5\n')).toBeUndefined();
  });
});
