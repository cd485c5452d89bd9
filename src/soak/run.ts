import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClusterConfig } from '../cluster/config';
import { simulatorBackends } from '../cluster/simulator';
import { clusterPaths, clusterStatus, stopCluster } from '../cluster/state';
import { ConfigError } from '../config/env';
import { startCluster } from '../cluster/up';
import { waitUntil } from '../infra/processes';
import { logger } from '../logger';
import { mulberry32 } from '../simulator/random';
import { availability } from './availability';
import { CallLog } from './calls';
import { checkInvariants } from './checker';
import { TenantClient } from './client';
import { planFaults } from './faultPlan';
import { FaultProxy } from './faultProxy';
import { Ledger } from './ledger';
import { Nemesis } from './nemesis';
import { FAULT_KINDS, type SoakReport } from './report';
import { Sampler } from './sampler';
import { WebhookReceiver } from './webhookReceiver';
import { SOAK_QUEUE, Workload } from './workload';

export type SoakOptions = Readonly<{ minutes: number; seed: number; cluster: ClusterConfig }>;

const TENANTS = ['tenant-a', 'tenant-b', 'tenant-c'] as const;
/** The fault proxies listen above the cluster's own ports (which stay within 32 of CLUSTER_PORT_BASE). */
const PROXY_PORT_OFFSET = 40;
/** What a GPU worker may have in flight at once (two backends of the simulator's 64 slots, each run up to twice deep): the most one fault can make it redo. */
const IN_FLIGHT_BOUND = 2 * 2 * 64;

/**
 * How long the last webhooks may take once every batch has ended: a delivery attempt whose
 * orchestrator was killed is retried only after its activity's 5-minute start-to-close timeout
 * (src/workflows/webhook.ts), then after the backoff of the attempts before (5 s, 10 s, 20 s, ...).
 */
const WEBHOOK_SETTLE_MS = 7 * 60_000;

const log = logger.child({ component: 'soak' });

/**
 * A fault campaign: the cluster of `npm run cluster` (on a DATA_DIR of its own, wiped first) with a
 * fault proxy in front of each backend, a workload of several tenants, and a nemesis injecting the
 * seed's faults, for `minutes`; then everything is healed, every batch is waited for (bounded), and
 * the checker reads every record.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { cluster: config, seed, minutes } = options;
  const loadAverageAtStart = os.loadavg()[0]!;
  await freshDataDir(config.DATA_DIR);
  const random = mulberry32(seed);
  const startedAt = new Date();

  const backends = simulatorBackends(config);
  const proxies = new Map(
    backends.map((backend, i) => {
      const target = new URL(backend.baseUrl);
      return [
        backend.name,
        new FaultProxy({ listenPort: config.CLUSTER_PORT_BASE + PROXY_PORT_OFFSET + i, target: { host: target.hostname, port: Number(target.port) }, random }),
      ];
    }),
  );
  await Promise.all([...proxies.values()].map((proxy) => proxy.start()));
  const receiver = new WebhookReceiver(random);
  const webhookUrl = await receiver.start();
  const keys = TENANTS.map((tenant) => ({ tenant, key: `sk-soak-${tenant}` }));

  const cluster = await startCluster(config, {
    appEnv: { API_KEYS: keys.map((k) => `${k.key}:${k.tenant}`).join(','), WEBHOOK_ALLOW_PRIVATE: 'true' },
    backendUrl: (backend) => `http://127.0.0.1:${proxies.get(backend.name)!.port}/v1`,
  });
  try {
    const t0 = Date.now();
    const calls = new CallLog(t0);
    const tenants = keys.map((k) => new TenantClient(k.tenant, k.key, cluster.url, calls));
    const ledger = new Ledger();
    const workload = new Workload(
      tenants,
      ledger,
      {
        maxLines: Math.min(50_000, Math.max(2_000, Math.round(2_000 * minutes))),
        maxPendingLines: Math.max(20_000, 5_000 * minutes),
        webhookUrl,
        vbsPath: path.join(config.node.distDir, 'cli/vbs.js'),
      },
      random,
    );
    await workload.prepare();
    const paths = clusterPaths(config.DATA_DIR);
    const sampler = new Sampler(
      paths,
      cluster.processes.map((p) => p.name),
      backends,
      t0,
    );
    const plan = planFaults(seed, minutes * 60_000, { processes: cluster.processes, backends: backends.map((b) => b.name) });
    const nemesis = new Nemesis(paths, cluster.processes, proxies, t0);
    log.info({ seed, minutes, faults_planned: plan.length }, 'soak started');

    sampler.start();
    const stopWork = AbortSignal.timeout(minutes * 60_000);
    await Promise.all([nemesis.run(plan, stopWork), workload.run(stopWork)]);
    const faults = await nemesis.stop();
    log.info({ faults: faults.length, batches: ledger.batches.size }, 'workload and nemesis stopped: settling');

    const settleMs = Math.max(5, minutes / 2) * 60_000;
    const settled = await waitUntil(
      async () => {
        await workload.pollStatuses(false).catch(() => undefined);
        return ledger.nonFinal().length === 0 && (await queuesDrained(tenants));
      },
      settleMs,
      2_000,
    );
    if (!settled) log.warn({ non_final: ledger.nonFinal().map((b) => b.id) }, 'not every batch ended within the settle time');
    await waitUntil(() => [...ledger.batches.values()].every((b) => !b.webhook || !b.final || receiver.saw(b.id, `batch.${b.final.status}`)), WEBHOOK_SETTLE_MS, 1_000);
    await sampler.stop();

    const checked = await checkInvariants(ledger, tenants, receiver);
    const losingWork = faults.filter((f) => f.kind.startsWith('backend-') || ((f.kind === 'kill' || f.kind === 'pause') && /^(gpu-worker|sim)-/.test(f.target))).length;
    const endedEarly = [...ledger.batches.values()].filter((b) => b.final?.status === 'cancelled' || b.final?.status === 'expired').length;
    const surplus = Math.max(0, sampler.backendSuccesses - checked.succeeded);
    const perFault = surplus / Math.max(1, losingWork + endedEarly);
    if (perFault > IN_FLIGHT_BOUND) ledger.violation('redone work per fault within the in-flight bound', 'redo', `${perFault.toFixed(1)} > ${IN_FLIGHT_BOUND}`);

    const byStatus: Record<string, number> = {};
    for (const b of ledger.batches.values()) {
      const status = b.final?.status ?? 'not final';
      byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
    byStatus['completed (queue)'] = checked.queueBatches.length;
    const byKind = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, faults.filter((f) => f.kind === kind).length])) as SoakReport['faults']['byKind'];
    const { succeeded, failedAsAsked, expiredOrCancelled, total, queueBatches, ...invariants } = checked;
    return {
      seed,
      minutes,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      passed: ledger.violations.length === 0,
      machine: { cores: os.cpus().length, loadAverageAtStart },
      requests: { total, succeeded, failedAsAsked, expiredOrCancelled },
      batches: { total: ledger.batches.size + queueBatches.length, byStatus, idempotentReplays: ledger.idempotentReplays },
      queuedRequests: { total: ledger.queued.size + ledger.queuedAmbiguous.size, ambiguous: ledger.queuedAmbiguous.size },
      faults: { total: faults.length, byKind, list: faults },
      invariants,
      availability: availability(calls.calls, faults),
      redo: {
        backendSuccesses: sampler.backendSuccesses,
        linesSucceeded: succeeded,
        surplus,
        faultsLosingWork: losingWork + endedEarly,
        perFault: Math.round(perFault * 10) / 10,
        boundPerFault: IN_FLIGHT_BOUND,
      },
      peakRssMiB: sampler.peakRssMiB,
      throughput: sampler.throughput,
      violations: ledger.violations,
    };
  } finally {
    await cluster.stop();
    await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
    await receiver.close();
  }
}

/** Every queue of every tenant has nothing pending and no batch in flight. */
async function queuesDrained(tenants: readonly TenantClient[]): Promise<boolean> {
  for (const client of tenants) {
    const queue = await client.json<{ pending_requests: number; batches_in_flight: number }>('GET', `/queues/${SOAK_QUEUE}`, { idempotent: true });
    if (queue.pending_requests > 0 || queue.batches_in_flight > 0) return false;
  }
  return true;
}

/** The soak's DATA_DIR holds only its own run: what a killed soak left there is stopped, then everything is removed. */
async function freshDataDir(dataDir: string): Promise<void> {
  const paths = clusterPaths(dataDir);
  const status = await clusterStatus(paths);
  if (status?.supervisor.alive) throw new ConfigError(`a cluster is running on ${dataDir} (supervisor pid ${status.supervisor.pid}): a soak needs a DATA_DIR of its own`);
  if (status) await stopCluster(paths);
  fs.rmSync(dataDir, { recursive: true, force: true });
}
