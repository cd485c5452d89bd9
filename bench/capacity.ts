/**
 * What one request costs: the figures docs/capacity.md sizes deployments from. Runs a split
 * deployment — API, orchestrator and GPU worker each a process of its own, so each role's CPU is read
 * from /proc — against one PostgreSQL (the embedded one, with pg_stat_statements loaded), one Temporal
 * dev server and one simulated GPU (its own process). Then, for each phase of K batches of N lines
 * (uploaded, created at once, waited for, output downloaded), reports per request and per batch:
 * CPU ms per process; PostgreSQL rows written (pg_stat_user_tables), WAL bytes (the LSN moved, and
 * pg_stat_wal), statements (pg_stat_statements: every round trip, BEGIN and COMMIT included);
 * Temporal history events and Temporal Cloud actions (counted from the histories by Temporal's
 * billing rules, heartbeats from the workers' RPC counters); and, after all phases, the bytes stored
 * per request before and after the retention pass. An idle window first gives the fixed cost per
 * second of a deployment doing nothing.
 *
 *   npm run bench:capacity -- [KxN ...]     default: 5x2000 1x20000 (phases, in order)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/infra/embeddedPostgres';
import { readPidFile } from '../src/infra/processes';
import { RETENTION_SCHEDULE_ID } from '../src/temporal/schedules';
import { findTemporalCli, startDevServer } from '../src/temporal/devServer';
import { scrape } from '../test/support/metrics';
import { REPO_ROOT } from '../test/support/repo';
import { startServiceProcess, type ServiceProcess } from '../test/support/serviceProcess';
import {
  freePort,
  getJson,
  loadAverage,
  machineCpuMs,
  sleep,
  startSimulatorProcess,
  treeCpuMs,
  uploadJsonlStream,
  verifyOutputOrder,
  waitForTerminal,
  type BatchState,
} from './lib';

const MODEL = 'sim-capacity-bench';
/** One GPU as the issue assumes it (256 slots), answering in 200 ms rather than 20 s: the costs counted here are per request, not per second. */
const GPU = {
  SIMULATOR_MODELS: MODEL,
  SIMULATOR_CAPACITY: '256',
  SIMULATOR_BASE_LATENCY_MS: '200',
  SIMULATOR_MS_PER_OUTPUT_TOKEN: '0',
  SIMULATOR_MS_PER_PROMPT_TOKEN: '0',
};
/** Backends flush their table and WAL counters when idle, at most every 10 s (PGSTAT_IDLE_INTERVAL): read them after that. */
const STATS_FLUSH_MS = 11_000;
const IDLE_WINDOW_MS = 30_000;
const EventType = temporal.api.enums.v1.EventType;
/** The workers' calls to Temporal that are counted, from the SDK core's metrics. */
const WORKER_RPCS = ['RecordActivityTaskHeartbeat', 'PollWorkflowTaskQueue', 'RespondWorkflowTaskCompleted', 'PollActivityTaskQueue', 'RespondActivityTaskCompleted'];

type Phase = { batches: number; lines: number };
type Deployment = { db: pg.Client; temporal: Client; roles: Record<string, ServiceProcess>; cpuRoots: Record<string, number>; apiUrl: string };
type Counters = { at: number; lsn: string; cpu: Record<string, number>; machineBusyMs: number; tables: Map<string, TableCounts>; rpcs: Map<string, number> };
type TableCounts = { ins: number; upd: number; del: number; vacuums: number };

const per = (value: number, count: number, digits = 2) => Number((value / count).toFixed(digits));

async function main(): Promise<void> {
  const phases = (process.argv.length > 2 ? process.argv.slice(2) : ['5x2000', '1x20000']).map(parsePhase);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-bench-capacity-'));
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const deployment = await deploy(dataDir, Math.max(...phases.map((p) => p.lines)), stops);
    const report: Record<string, unknown> = {
      date: new Date().toISOString(),
      machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, load_average_before: loadAverage() },
      deployment: 'one process per role (API, orchestrator, GPU worker), embedded PostgreSQL 18, Temporal dev server (SQLite), one simulated GPU (256 slots, 200 ms)',
    };
    const baseline = await compactedSizes(deployment.db);
    report.idle_per_second = await measureIdle(deployment);
    report.phases = [];
    for (const phase of phases) (report.phases as unknown[]).push(await measurePhase(deployment, phase));
    report.storage = await measureRetention(
      deployment,
      phases.reduce((sum, p) => sum + p.batches * p.lines, 0),
      baseline,
    );
    report.machine = { ...(report.machine as object), load_average_after: loadAverage() };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(err));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function parsePhase(spec: string): Phase {
  const match = /^(\d+)x(\d+)$/.exec(spec);
  if (!match) throw new Error(`a phase is KxN (K batches of N lines), not ${spec}`);
  return { batches: Number(match[1]), lines: Number(match[2]) };
}

async function deploy(dataDir: string, maxLines: number, stops: Array<() => Promise<unknown>>): Promise<Deployment> {
  const postgres = await startEmbeddedPostgres(dataDir, await freePort(), { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.max': '10000' });
  stops.push(postgres.stop);
  const db = new pg.Client({ connectionString: postgres.url });
  await db.connect();
  stops.push(() => db.end());
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');

  // Run from dist-bench/, the CLI's project-local install is looked up from the repository.
  const projectCli = [path.join(REPO_ROOT, '.tools/temporal/bin/temporal')].find((file) => fs.existsSync(file));
  const server = await startDevServer({
    cliPath: findTemporalCli(process.env.TEMPORAL_CLI_PATH ?? projectCli),
    dataDir,
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
  });
  stops.push(server.stop);
  const connection = await Connection.connect({ address: server.address });
  stops.push(() => connection.close());
  const simulator = await startSimulatorProcess(GPU);
  stops.push(() => simulator.stop());

  // Ready lines are logged at info.
  const common = { DATABASE_URL: postgres.url, TEMPORAL_ADDRESS: server.address, LOG_LEVEL: 'info' };
  const roles: Record<string, ServiceProcess> = {};
  roles.orchestrator = await startServiceProcess({ ...common, WORKER_ROLES: 'orchestrator', MAX_REQUESTS_PER_BATCH: String(maxLines) }, { entry: 'worker' });
  stops.push(() => roles.orchestrator!.stop());
  roles.gpu_worker = await startServiceProcess({ ...common, WORKER_ROLES: 'inference', VLLM_BASE_URL: simulator.baseUrl }, { entry: 'worker' });
  stops.push(() => roles.gpu_worker!.stop());
  roles.api = await startServiceProcess(common, { entry: 'api' });
  stops.push(() => roles.api!.stop());

  const pidOf = async (file: string) => (await readPidFile(path.join(dataDir, file))) ?? Promise.reject(new Error(`no pid in ${file}`));
  const cpuRoots = {
    ...Object.fromEntries(Object.entries(roles).map(([role, p]) => [role, p.child.pid!])),
    postgres: await pidOf('postgres/postmaster.pid'),
    temporal_server: await pidOf('temporal.pid'),
    simulator: simulator.pid,
  };
  return { db, temporal: new Client({ connection }), roles, cpuRoots, apiUrl: roles.api.apiUrl };
}

/** Every counter a window is the difference of; pg_stat_statements and pg_stat_wal are reset instead. */
async function readCounters({ db, roles, cpuRoots }: Deployment): Promise<Counters> {
  const { rows } = await db.query<{ relname: string } & TableCounts>(
    `SELECT relname, n_tup_ins::float8 AS ins, n_tup_upd::float8 AS upd, n_tup_del::float8 AS del,
            (autovacuum_count + autoanalyze_count)::float8 AS vacuums
     FROM pg_stat_user_tables`,
  );
  const rpcs = new Map<string, number>();
  for (const role of ['orchestrator', 'gpu_worker']) {
    const metrics = await scrape(roles[role]!.metricsUrl);
    for (const operation of WORKER_RPCS) {
      // Polls are long requests, which the SDK core counts apart.
      rpcs.set(`${role}.${operation}`, metrics.value('temporal_request_total', { operation }) + metrics.value('temporal_long_request_total', { operation }));
    }
  }
  return {
    at: Date.now(),
    lsn: (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn,
    cpu: Object.fromEntries(Object.entries(cpuRoots).map(([name, pid]) => [name, treeCpuMs(pid)])),
    machineBusyMs: machineCpuMs().busy,
    tables: new Map(rows.map((r) => [r.relname, r])),
    rpcs,
  };
}

async function resetStatistics(db: pg.Client): Promise<void> {
  await db.query(`SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')`);
}

/** What PostgreSQL, the processes and Temporal's RPCs did between `before` and now. */
async function windowOf(deployment: Deployment, before: Counters) {
  const { db } = deployment;
  const after = await readCounters(deployment);
  const wal = (
    await db.query<{ lsn_bytes: number; wal_records: number; wal_fpi: number; wal_bytes: number }>(
      `SELECT pg_wal_lsn_diff($1, $2)::float8 AS lsn_bytes, wal_records::float8, wal_fpi::float8, wal_bytes::float8 FROM pg_stat_wal`,
      [after.lsn, before.lsn],
    )
  ).rows[0]!;
  // The bench's own statements (these) all read pg_* views or functions.
  const statements = (
    await db.query<{ query: string; calls: number; rows: number; wal_bytes: number; exec_ms: number }>(
      `SELECT query, calls::float8, rows::float8, wal_bytes::float8, total_exec_time AS exec_ms FROM pg_stat_statements WHERE query NOT LIKE '%pg\\_%' ORDER BY total_exec_time DESC`,
    )
  ).rows;
  const kind = (query: string) => (/^\s*(begin|commit|rollback)/i.test(query) ? 'transaction_control' : /^\s*select/i.test(query) ? 'select' : 'write');
  const byKind: Record<string, number> = {};
  for (const s of statements) byKind[kind(s.query)] = (byKind[kind(s.query)] ?? 0) + s.calls;
  const rows: Record<string, TableCounts> = {};
  for (const [table, now] of after.tables) {
    const then = before.tables.get(table) ?? { ins: 0, upd: 0, del: 0, vacuums: 0 };
    // With autovacuum and autoanalyze runs: their CPU is PostgreSQL's too.
    const diff = { ins: now.ins - then.ins, upd: now.upd - then.upd, del: now.del - then.del, vacuums: now.vacuums - then.vacuums };
    if (diff.ins + diff.upd + diff.del + diff.vacuums > 0) rows[table] = diff;
  }
  return {
    seconds: (after.at - before.at) / 1000,
    cpuMs: Object.fromEntries(Object.entries(after.cpu).map(([name, ms]) => [name, ms - before.cpu[name]!])),
    machineBusyMs: after.machineBusyMs - before.machineBusyMs,
    wal,
    statements,
    statementsByKind: byKind,
    rows,
    rpcs: Object.fromEntries([...after.rpcs].map(([name, n]) => [name, n - before.rpcs.get(name)!])),
  };
}

async function measureIdle(deployment: Deployment) {
  await sleep(STATS_FLUSH_MS);
  await resetStatistics(deployment.db);
  const before = await readCounters(deployment);
  await sleep(IDLE_WINDOW_MS);
  const w = await windowOf(deployment, before);
  const rows = Object.values(w.rows).reduce((sum, r) => sum + r.ins + r.upd + r.del, 0);
  return {
    seconds: w.seconds,
    cpu_ms: Object.fromEntries(Object.entries(w.cpuMs).map(([name, ms]) => [name, per(ms, w.seconds)])),
    postgres: {
      rows_written: per(rows, w.seconds),
      wal_bytes: per(w.wal.lsn_bytes, w.seconds, 0),
      statements: per(
        w.statements.reduce((sum, s) => sum + s.calls, 0),
        w.seconds,
        1,
      ),
    },
    temporal_rpcs: Object.fromEntries(Object.entries(w.rpcs).map(([name, n]) => [name, per(n, w.seconds)])),
  };
}

async function measurePhase(deployment: Deployment, phase: Phase) {
  const { batches, lines } = phase;
  const requests = batches * lines;
  await sleep(STATS_FLUSH_MS);
  await resetStatistics(deployment.db);
  const loadBefore = loadAverage();
  const before = await readCounters(deployment);
  const startedAt = new Date();
  const ids = await Promise.all(Array.from({ length: batches }, (_, b) => runBatch(deployment.apiUrl, `b${startedAt.getTime()}-${b}`, lines)));
  const runSeconds = (Date.now() - before.at) / 1000;
  await sleep(STATS_FLUSH_MS);
  const w = await windowOf(deployment, before);
  const history = await histories(deployment.temporal, startedAt);
  const heartbeats = w.rpcs['gpu_worker.RecordActivityTaskHeartbeat']! + w.rpcs['orchestrator.RecordActivityTaskHeartbeat']!;
  const statements = w.statements.reduce((sum, s) => sum + s.calls, 0);
  const rowTotals = Object.values(w.rows).reduce((t, r) => ({ ins: t.ins + r.ins, upd: t.upd + r.upd, del: t.del + r.del }), { ins: 0, upd: 0, del: 0 });
  const actions = history.actions + heartbeats;
  return {
    phase: `${batches}x${lines}`,
    batches: ids.length,
    requests,
    run_seconds: runSeconds,
    requests_per_second: Math.round(requests / runSeconds),
    load_average: { before: loadBefore, after: loadAverage() },
    // Everything the window saw, including STATS_FLUSH_MS of idling after the run (idle_per_second has its rate).
    window_seconds: w.seconds,
    cpu_ms_per_request: Object.fromEntries(Object.entries(w.cpuMs).map(([name, ms]) => [name, per(ms, requests, 3)])),
    machine_busy_ms_per_request: per(w.machineBusyMs, requests, 3),
    postgres: {
      rows_written_per_request: { inserted: per(rowTotals.ins, requests), updated: per(rowTotals.upd, requests), deleted: per(rowTotals.del, requests) },
      rows_written_by_table: w.rows,
      wal_bytes_per_request: per(w.wal.lsn_bytes, requests, 0),
      wal_records_per_request: per(w.wal.wal_records, requests),
      wal_full_page_images_per_request: per(w.wal.wal_fpi, requests, 3),
      statements_per_request: per(statements, requests, 3),
      statements_per_request_by_kind: Object.fromEntries(Object.entries(w.statementsByKind).map(([k, n]) => [k, per(n, requests, 3)])),
      execution_ms_per_request: per(
        w.statements.reduce((sum, s) => sum + s.exec_ms, 0),
        requests,
        3,
      ),
      top_statements: w.statements.slice(0, 15).map((s) => ({
        calls: s.calls,
        rows: s.rows,
        wal_bytes: s.wal_bytes,
        exec_ms: Math.round(s.exec_ms),
        query: s.query.replace(/\s+/g, ' ').slice(0, 140),
      })),
    },
    temporal: {
      workflows: history.byType,
      history_events_per_request: per(history.events, requests, 4),
      history_events_per_batch: per(history.events, batches, 1),
      history_bytes_per_batch: per(history.bytes, batches, 0),
      chunk_activity_seconds: history.chunkSeconds,
      heartbeats_reaching_server: heartbeats,
      heartbeats_per_chunk_second: per(heartbeats, history.chunkSeconds, 3),
      cloud_actions: { from_history: history.actions, heartbeats, per_batch: per(actions, batches, 1), per_request: per(actions, requests, 4) },
      worker_rpcs_per_request: Object.fromEntries(Object.entries(w.rpcs).map(([name, n]) => [name, per(n, requests, 4)])),
    },
  };
}

const body = (i: number) => ({ model: MODEL, messages: [{ role: 'user', content: `Request ${i}` }], max_tokens: 16 });

/** A client's whole journey: upload, create, wait, download the output. */
async function runBatch(apiUrl: string, name: string, lines: number): Promise<string> {
  const customId = (i: number) => `${name}-${i}`;
  const file = await uploadJsonlStream(
    apiUrl,
    function* () {
      for (let i = 0; i < lines; i++) yield JSON.stringify({ custom_id: customId(i), method: 'POST', url: '/v1/chat/completions', body: body(i) });
    },
    `${name}.jsonl`,
  );
  const created = await getJson<BatchState>(`${apiUrl}/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, completion_window: '24h' }),
  });
  const batch = await waitForTerminal(apiUrl, created.id, () => undefined);
  if (batch.status !== 'completed' || batch.request_counts.completed !== lines) throw new Error(`batch ${batch.id} ended ${JSON.stringify(batch)}`);
  const written = await verifyOutputOrder(apiUrl, batch.output_file_id!, customId);
  if (written !== lines) throw new Error(`output of ${batch.id} has ${written} lines, expected ${lines}`);
  return batch.id;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * The histories of every workflow run started since `since` (continue-as-new runs included), counted
 * by type, with their Temporal Cloud actions by the rules of https://docs.temporal.io/cloud/actions.
 */
async function histories(client: Client, since: Date) {
  const byType: Record<string, { runs: number; events: number; actions: number; eventTypes: Record<string, number> }> = {};
  let events = 0;
  let actions = 0;
  let bytes = 0;
  let chunkSeconds = 0;
  for await (const execution of client.workflow.list({ query: `StartTime >= "${since.toISOString()}"` })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const list = history.events ?? [];
    const type = (byType[execution.type] ??= { runs: 0, events: 0, actions: 0, eventTypes: {} });
    const runActions = cloudActions(list);
    type.runs++;
    type.events += list.length;
    type.actions += runActions;
    for (const event of list) {
      const name = EventType[event.eventType!].replace(/^EVENT_TYPE_/, '');
      type.eventTypes[name] = (type.eventTypes[name] ?? 0) + 1;
    }
    events += list.length;
    actions += runActions;
    bytes += temporal.api.history.v1.History.encode(history).finish().length;
    chunkSeconds += activitySeconds(list, 'processChunk');
  }
  return { byType, events, actions, bytes, chunkSeconds: Math.round(chunkSeconds) };
}

/**
 * Billable actions in one run's history: a start (3 for a Schedule's run: the Schedule's two and the
 * start; none for a child, counted as 2 by its parent's initiation), each activity scheduled and
 * each retry of it, timers, signals, search attribute upserts, updates, options updates, local
 * activities once per workflow task. Heartbeats and queries are not in histories.
 */
function cloudActions(events: HistoryEvent[]): number {
  let actions = 0;
  const localActivityTasks = new Set<string>();
  for (const event of events) {
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
        const attributes = event.workflowExecutionStartedEventAttributes!;
        if (attributes.parentWorkflowExecution) break;
        actions += attributes.searchAttributes?.indexedFields?.TemporalScheduledById ? 3 : 1;
        break;
      }
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        actions += 2;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        actions += Math.max(0, (event.activityTaskStartedEventAttributes!.attempt ?? 1) - 1);
        break;
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = Object.keys(event.upsertWorkflowSearchAttributesEventAttributes!.searchAttributes?.indexedFields ?? {});
        if (fields.some((field) => field !== 'TemporalChangeVersion')) actions++;
        break;
      }
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        if (event.markerRecordedEventAttributes!.markerName === 'core_local_activity') {
          localActivityTasks.add(String(event.markerRecordedEventAttributes!.workflowTaskCompletedEventId));
        }
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
      case EventType.EVENT_TYPE_TIMER_STARTED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
        actions++;
        break;
    }
  }
  return actions + localActivityTasks.size;
}

/** Seconds between each started and closed event of the activities of `activityType`. */
function activitySeconds(events: HistoryEvent[], activityType: string): number {
  const ms = (event: HistoryEvent) => Number(event.eventTime!.seconds) * 1000 + (event.eventTime!.nanos ?? 0) / 1e6;
  const byId = new Map(events.map((e) => [String(e.eventId), e]));
  let seconds = 0;
  for (const event of events) {
    const closed = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskCanceledEventAttributes;
    if (!closed) continue;
    const scheduled = byId.get(String(closed.scheduledEventId));
    const started = byId.get(String(closed.startedEventId));
    if (scheduled?.activityTaskScheduledEventAttributes?.activityType?.name === activityType && started) seconds += (ms(event) - ms(started)) / 1000;
  }
  return seconds;
}

/**
 * Bytes stored per request, per table: as written (before any vacuum), then compacted (VACUUM FULL)
 * before and after the retention pass, less the compacted tables before any batch ran. The retention
 * pass is the `vbs-retention` Schedule, triggered, as its Trigger button in the Temporal UI does.
 */
async function measureRetention(deployment: Deployment, requests: number, baseline: Map<string, number>) {
  const { db, temporal: client } = deployment;
  const asWritten = await tableSizes(db);
  const beforeRetention = await compactedSizes(db);
  const triggeredAt = new Date();
  await client.schedule.getHandle(RETENTION_SCHEDULE_ID).trigger();
  const pass = await retentionRun(client, triggeredAt);
  const afterRetention = await compactedSizes(db);
  const perRequest = (of: Map<string, number>) => {
    const out: Record<string, number> = {};
    for (const [table, bytes] of of) {
      const added = bytes - (baseline.get(table) ?? 0);
      if (added !== 0) out[table] = per(added, requests, 1);
    }
    return {
      total: per(
        [...of.keys()].reduce((sum, t) => sum + of.get(t)! - (baseline.get(t) ?? 0), 0),
        requests,
        1,
      ),
      by_table: out,
    };
  };
  return {
    requests,
    bytes_per_request_as_written: perRequest(asWritten),
    bytes_per_request_before_retention: perRequest(beforeRetention),
    bytes_per_request_after_retention: perRequest(afterRetention),
    retention_pass: pass,
  };
}

async function tableSizes(db: pg.Client): Promise<Map<string, number>> {
  const { rows } = await db.query<{ relname: string; bytes: number }>(`SELECT relname, pg_total_relation_size(relid)::float8 AS bytes FROM pg_stat_user_tables`);
  return new Map(rows.map((r) => [r.relname, r.bytes]));
}

async function compactedSizes(db: pg.Client): Promise<Map<string, number>> {
  await db.query('VACUUM FULL');
  return tableSizes(db);
}

/** Waits for the retention run started at or after `since` to complete; its history's size and actions. */
async function retentionRun(client: Client, since: Date) {
  for (;;) {
    for await (const execution of client.workflow.list({ query: `WorkflowType = "retentionWorkflow" AND StartTime >= "${since.toISOString()}"` })) {
      if (execution.status.name === 'RUNNING') continue;
      if (execution.status.name !== 'COMPLETED') throw new Error(`retention run ended ${execution.status.name}`);
      const events = (await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory()).events ?? [];
      return { history_events: events.length, cloud_actions: cloudActions(events) };
    }
    await sleep(500);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
