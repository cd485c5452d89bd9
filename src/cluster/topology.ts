import type { RunAs } from '../infra/embeddedPostgres';

export const ROLES = ['postgres', 'temporal', 'temporal-ui', 'simulator', 'api', 'orchestrator', 'gpu-worker', 'load-balancer'] as const;
export type Role = (typeof ROLES)[number];

/**
 * One long-running process of the cluster: what the supervisor starts, restarts when it exits (as
 * compose's `restart: unless-stopped`) and stops, and what a fault campaign will kill, pause and
 * restart by name. Plain data but for the readiness probe, so that it can be written to the state
 * file (state.ts) for `status` and `down` in another shell.
 */
export type ProcessSpec = Readonly<{
  /** Unique in the cluster, e.g. `api-2`: names its log file and pid file. */
  name: string;
  role: Role;
  /** The docker-compose.yml service this process stands for. */
  service: string;
  /** The port it serves on (for workers, their metrics and /readyz port). */
  port: number;
  command: string;
  args: readonly string[];
  /** Added to the supervisor's environment. */
  env: Readonly<Record<string, string>>;
  /** PostgreSQL refuses to run as root: it runs as the `postgres` user then. */
  runAs?: RunAs;
  /** What stops it cleanly (PostgreSQL: SIGINT, its fast shutdown). */
  stopSignal: NodeJS.Signals;
  /** How long a clean stop may take before SIGKILL: workers drain for SHUTDOWN_GRACE_MS (30 s), as compose's stop_grace_period allows 45 s. */
  stopGraceMs: number;
  /** Part of its command line, checked with the PID: a pid file never makes us signal a recycled PID. */
  marker: string;
  /** True once it serves; awaited at start-up only (a restart is not waited for). */
  ready: () => Promise<boolean>;
}>;

/** A one-shot command run to completion before the processes that need it (compose's one-shot services). */
export type Job = Readonly<{ name: string; command: string; args: readonly string[]; env: Readonly<Record<string, string>> }>;

/** The start order of compose's depends_on, by role; `down` and Ctrl-C stop in the reverse order. */
export const START_ORDER: readonly Role[][] = [['postgres'], ['temporal'], ['temporal-ui', 'simulator'], ['api', 'orchestrator', 'gpu-worker'], ['load-balancer']];
