import { mulberry32 } from '../simulator/random';
import { FAULT_KINDS, type FaultKind } from './report';

/** A fault as the seed schedules it: when, what, on which process or backend, for how long. */
export type PlannedFault = Readonly<{
  atMs: number;
  kind: FaultKind;
  /** A process name (`gpu-worker-2`, `postgres`) or, for backend faults, a backend name (`sim-shared`). */
  target: string;
  /** How long it lasts; for a kill or a restart, how long its target is kept from other faults. */
  durationMs: number;
  /** The fault's strength: latency in ms, the share of connections answered 503, the chance of a reset per chunk. */
  level: number;
}>;

export type FaultTargets = Readonly<{ processes: readonly Readonly<{ name: string; role: string }>[]; backends: readonly string[] }>;

/** One fault every 6 s on average, as far as MAX_CONCURRENT allows: a 30-minute soak injects about 250 (the issue asks for at least 200). */
const MEAN_GAP_MS = 6_000;
/** Faults at once, at most: overlaps are the point, but a fleet with everything down at once tests nothing. */
const MAX_CONCURRENT = 5;
/** A draw whose target is busy, or that would exceed MAX_CONCURRENT, is tried again this much later. */
const RETRY_GAP_MS = 1_000;
/** A killed or restarted process is left alone this long: the supervisor restarts it within a few seconds. */
const RECOVERY_MS = 15_000;

/** How often each kind is drawn: process crashes most, since they are the commonest fault of a fleet. */
const KIND_WEIGHTS: Readonly<Record<FaultKind, number>> = {
  kill: 30,
  pause: 14,
  'postgres-restart': 5,
  'temporal-restart': 5,
  'backend-down': 10,
  'backend-flap': 10,
  'backend-latency': 10,
  'backend-reset': 8,
  'backend-blackhole': 8,
};

/** Which processes a kill or a pause strikes, by role: GPU workers and orchestrators hold the most state in flight. */
const ROLE_WEIGHTS: Readonly<Record<string, number>> = {
  'gpu-worker': 30,
  orchestrator: 20,
  api: 15,
  simulator: 8,
  postgres: 8,
  temporal: 8,
  'load-balancer': 6,
  'temporal-ui': 5,
};

/** Duration ranges in ms, and the level's range, per kind (the issue's: pauses 5–60 s, backend down 10–120 s). */
const SHAPES: Readonly<Record<FaultKind, { durationMs: [number, number]; level: [number, number] }>> = {
  kill: { durationMs: [RECOVERY_MS, RECOVERY_MS], level: [0, 0] },
  pause: { durationMs: [5_000, 60_000], level: [0, 0] },
  'postgres-restart': { durationMs: [RECOVERY_MS, RECOVERY_MS], level: [0, 0] },
  'temporal-restart': { durationMs: [RECOVERY_MS, RECOVERY_MS], level: [0, 0] },
  'backend-down': { durationMs: [10_000, 120_000], level: [0, 0] },
  'backend-flap': { durationMs: [10_000, 60_000], level: [0.3, 0.8] },
  'backend-latency': { durationMs: [10_000, 60_000], level: [300, 3_000] },
  'backend-reset': { durationMs: [5_000, 30_000], level: [0.01, 0.1] },
  'backend-blackhole': { durationMs: [5_000, 45_000], level: [0, 0] },
};

/**
 * The whole schedule of faults of a soak of `durationMs`, a pure function of `seed`: the same seed
 * replays the same faults at the same times on the same targets. The first faults are one of each
 * kind in a seeded order, so even a 3-minute soak injects every kind. A target has one fault at a
 * time, and at most MAX_CONCURRENT faults overlap; a draw that would break either is tried again
 * a little later.
 */
export function planFaults(seed: number, durationMs: number, targets: FaultTargets): PlannedFault[] {
  const random = mulberry32(seed);
  const between = ([low, high]: [number, number]) => low + (high - low) * random();
  const pick = <T>(items: readonly T[], weight: (item: T) => number): T => {
    const total = items.reduce((sum, item) => sum + weight(item), 0);
    let draw = random() * total;
    for (const item of items) {
      draw -= weight(item);
      if (draw < 0) return item;
    }
    return items[items.length - 1]!;
  };

  const firstRound = [...FAULT_KINDS].sort(() => random() - 0.5);
  const busyUntil = new Map<string, number>();
  const planned: PlannedFault[] = [];
  let at = 5_000;
  while (at < durationMs) {
    const fromFirstRound = firstRound.length > 0;
    const kind = firstRound.shift() ?? pick(FAULT_KINDS, (k) => KIND_WEIGHTS[k]);
    const target = targetOf(kind);
    const overlapping = planned.filter((f) => f.atMs + f.durationMs > at).length;
    if (target === undefined || (busyUntil.get(target) ?? 0) > at || overlapping >= MAX_CONCURRENT) {
      if (fromFirstRound && target !== undefined) firstRound.unshift(kind);
      at += RETRY_GAP_MS;
      continue;
    }
    const shape = SHAPES[kind];
    const durationMs = Math.round(between(shape.durationMs));
    planned.push({ atMs: Math.round(at), kind, target, durationMs, level: Number(between(shape.level).toFixed(3)) });
    busyUntil.set(target, at + durationMs);
    // Exponential gaps: a Poisson process of faults, some bunched together, some far apart.
    at += -Math.log(1 - random()) * MEAN_GAP_MS;
  }
  return planned;

  function targetOf(kind: FaultKind): string | undefined {
    if (kind === 'postgres-restart') return 'postgres';
    if (kind === 'temporal-restart') return 'temporal';
    if (kind.startsWith('backend-')) return targets.backends.length > 0 ? pick(targets.backends, () => 1) : undefined;
    const processes = targets.processes.filter((p) => (ROLE_WEIGHTS[p.role] ?? 0) > 0);
    if (processes.length === 0) return undefined;
    const role = pick([...new Set(processes.map((p) => p.role))], (r) => ROLE_WEIGHTS[r]!);
    return pick(
      processes.filter((p) => p.role === role),
      () => 1,
    ).name;
  }
}
