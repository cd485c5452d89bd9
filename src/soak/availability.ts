import type { CallOutcome } from './calls';
import type { InjectedFault, SoakReport } from './report';

/** After a process is back, clients still meet its absence for a moment: the load balancer's health check (2 × 1 s) and their backoff. */
const AFTERMATH_MS = 5_000;

type Interval = readonly [number, number];

/**
 * API availability as the issue defines it: the share of calls through the load balancer answered
 * without a 5xx or a connection error, leaving out the calls made while nothing could answer them —
 * PostgreSQL down (killed, paused, restarting), the load balancer down, or both API processes down
 * at once — each stretched by AFTERMATH_MS.
 */
export function availability(calls: readonly CallOutcome[], faults: readonly InjectedFault[]): SoakReport['availability'] {
  const outage = (f: InjectedFault): Interval => [f.startMs, f.endMs + AFTERMATH_MS];
  const excluded: Interval[] = faults.filter((f) => f.target === 'postgres' || f.target === 'load-balancer').map(outage);
  const apiOutages = faults.filter((f) => f.target.startsWith('api-'));
  for (const a of apiOutages) {
    for (const b of apiOutages) {
      if (a.target >= b.target) continue;
      const [start, end] = [Math.max(a.startMs, b.startMs), Math.min(a.endMs, b.endMs)];
      if (start < end) excluded.push([start, end + AFTERMATH_MS]);
    }
  }
  const isExcluded = (atMs: number) => excluded.some(([start, end]) => atMs >= start && atMs <= end);
  const counted = calls.filter((c) => !isExcluded(c.atMs));
  const failuresByKind: Record<string, number> = {};
  for (const call of counted) if (!call.ok) failuresByKind[call.kind] = (failuresByKind[call.kind] ?? 0) + 1;
  const ok = counted.filter((c) => c.ok).length;
  return { calls: counted.length, ok, excluded: calls.length - counted.length, ratio: counted.length === 0 ? 1 : ok / counted.length, failuresByKind };
}
