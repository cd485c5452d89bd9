import { availability } from '../../src/soak/availability';
import { allowedStatuses } from '../../src/soak/checker';
import { planFaults, type FaultTargets } from '../../src/soak/faultPlan';
import { FAULT_KINDS, type InjectedFault } from '../../src/soak/report';

const targets: FaultTargets = {
  processes: [
    { name: 'postgres', role: 'postgres' },
    { name: 'temporal', role: 'temporal' },
    { name: 'api-1', role: 'api' },
    { name: 'api-2', role: 'api' },
    { name: 'orchestrator-1', role: 'orchestrator' },
    { name: 'gpu-worker-1', role: 'gpu-worker' },
    { name: 'gpu-worker-2', role: 'gpu-worker' },
    { name: 'sim-1', role: 'simulator' },
    { name: 'load-balancer', role: 'load-balancer' },
  ],
  backends: ['sim-1', 'sim-shared'],
};

/** The soak's pure parts: its schedule of faults, its availability figure, and what a batch may end as. */
describe('soak fault plan', () => {
  test('the same seed replays the same schedule; another seed gives another', () => {
    const plan = planFaults(7, 30 * 60_000, targets);
    expect(planFaults(7, 30 * 60_000, targets)).toEqual(plan);
    expect(planFaults(8, 30 * 60_000, targets)).not.toEqual(plan);
  });

  test('30 minutes schedule at least 200 faults, and even 3 minutes every kind', () => {
    expect(planFaults(1, 30 * 60_000, targets).length).toBeGreaterThanOrEqual(200);
    for (const seed of [1, 2, 3, 4, 5]) {
      const kinds = new Set(planFaults(seed, 3 * 60_000, targets).map((f) => f.kind));
      expect([...kinds].sort()).toEqual([...FAULT_KINDS].sort());
    }
  });

  test('a target has one fault at a time, at most five overlap, and the shapes are within their ranges', () => {
    const plan = planFaults(3, 30 * 60_000, targets);
    for (const fault of plan) {
      const overlapping = plan.filter((f) => f !== fault && f.atMs <= fault.atMs && f.atMs + f.durationMs > fault.atMs);
      expect(overlapping.some((f) => f.target === fault.target)).toBe(false);
      expect(overlapping.length).toBeLessThan(5);
      if (fault.kind === 'pause') expect(fault.durationMs).toBeGreaterThanOrEqual(5_000);
      if (fault.kind === 'pause') expect(fault.durationMs).toBeLessThanOrEqual(60_000);
      if (fault.kind === 'backend-down') expect(fault.durationMs).toBeLessThanOrEqual(120_000);
      if (fault.kind.startsWith('backend-')) expect(targets.backends).toContain(fault.target);
      if (fault.kind === 'postgres-restart') expect(fault.target).toBe('postgres');
    }
  });
});

describe('soak availability', () => {
  const fault = (target: string, startMs: number, endMs: number): InjectedFault => ({ kind: 'kill', target, startMs, endMs });
  const calls = [
    { atMs: 1_000, ok: true, kind: '200' },
    { atMs: 11_000, ok: false, kind: 'ECONNREFUSED' }, // PostgreSQL down: left out
    { atMs: 31_000, ok: false, kind: '502' }, // one API down: counted
    { atMs: 41_000, ok: false, kind: '502' }, // both APIs down: left out
    { atMs: 60_000, ok: false, kind: '503 temporal_unavailable' }, // Temporal down: counted
  ];

  test('calls while PostgreSQL or both APIs were down are left out; the rest count, failures by kind', () => {
    const figure = availability(calls, [fault('postgres', 10_000, 12_000), fault('api-1', 30_000, 45_000), fault('api-2', 40_000, 42_000)]);
    expect(figure).toEqual({ calls: 3, ok: 1, excluded: 2, ratio: 1 / 3, failuresByKind: { '502': 1, '503 temporal_unavailable': 1 } });
  });
});

describe('soak expectations', () => {
  const batch = { invalid: false, cancel: 'none', shortWindow: false } as Parameters<typeof allowedStatuses>[0];
  test('what a batch may end as follows from what was done to it', () => {
    expect(allowedStatuses(batch)).toEqual(['completed']);
    expect(allowedStatuses({ ...batch, invalid: true, cancel: 'accepted' })).toEqual(['failed']);
    expect(allowedStatuses({ ...batch, cancel: 'accepted' })).toEqual(['cancelled']);
    expect(allowedStatuses({ ...batch, cancel: 'unknown', shortWindow: true })).toEqual(['completed', 'cancelled', 'expired']);
  });
});
