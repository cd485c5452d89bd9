import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { validateAndPlan, type BatchPlan, type PlanLimits } from '../../src/pipeline/plan';
import { completionWindowSeconds } from '../../src/domain/window';
import { migrate } from '../../src/db/migrate';
import { createPool, type Db } from '../../src/db/pool';
import { readFileContent } from '../../src/files/content';
import type { FileObject } from '../../src/files/object';
import { storeUpload } from '../../src/files/upload';
import { batchRequestId, newBatchId } from '../../src/ids';
import { BackendPool } from '../../src/inference/backends';
import { backendTarget } from '../../src/inference/target';
import { InferenceClient } from '../../src/inference/client';
import { DEFAULT_HEALTH_POLICY } from '../../src/inference/health';
import { DEFAULT_ATTEMPT_POLICY } from '../../src/inference/requestAttempts';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { INITIAL_STATUS, type BatchStatus } from '../../src/states/batch';
import { insertBatch, transitionBatch, type BatchRow } from '../../src/store/batches';
import { findPendingRequests, readChunkWithResults, storeResults, type PendingRequest, type RequestResult, type RequestWithResult } from '../../src/store/requests';
import { heartbeatInferenceWorker, removeInferenceWorker } from '../../src/store/inferenceWorkers';
import { BATCH_ENDPOINTS } from '../../src/domain/endpoints';
import { setBatchWebhook } from '../../src/store/webhooks';
import type { WebhookConfig } from '../../src/states/webhook';
import type { ResultLine } from './batches';
import { testStack } from './stack';
import { waitFor } from './wait';

/**
 * Shared fixtures of the component tests of the batch domain (test/component): everything is
 * created through the service's own use cases and store functions on the stack's real PostgreSQL,
 * so a fixture cannot drift from what the service writes.
 */

/** The model the stack's simulator serves (its default). */
export const SIMULATOR_MODEL = defaultSimulatorOptions().models[0]!;

/** A tenant of its own per test file, so files never see each other's rows. */
export const uniqueTenant = (name: string) => `tenant-component-${name}-${crypto.randomUUID()}`;

/** A pool on the stack's PostgreSQL with every migration applied. */
export async function connectTestDb(max = 5): Promise<Db> {
  const db = createPool(testStack().databaseUrl, max);
  await migrate(db);
  return db;
}

/**
 * A batch row that already ran (`completed` unless told), with its webhook if any: what webhook
 * delivery starts from. Its files are not written; delivery only reads the row.
 */
export async function insertRanBatch(db: Db, tenantId: string, webhook: WebhookConfig | null, status: BatchStatus = 'completed'): Promise<string> {
  const id = newBatchId();
  await db.query(
    `INSERT INTO batches (id, tenant_id, endpoint, model, input_file_id, completion_window, status, output_file_id,
                          total_requests, completed_requests, expires_at, completed_at)
     VALUES ($1, $2, '/v1/chat/completions', $3, 'file-in', '24h', $4, 'file-out', 2, 2, now() + interval '1 day', now())`,
    [id, tenantId, SIMULATOR_MODEL, status],
  );
  if (webhook) await setBatchWebhook(db, id, webhook);
  return id;
}

/** Uploads JSONL through the real upload use case (parts, row, status), as POST /v1/files does. */
export async function uploadInputFile(db: Db, tenantId: string, content: string | Buffer | string[]): Promise<FileObject> {
  const bytes = Array.isArray(content) ? Buffer.from(content.join('\n') + '\n') : Buffer.from(content);
  const { file } = await storeUpload(db, {
    tenantId,
    filename: 'input.jsonl',
    content: Readable.from([bytes]),
    maxBytes: Number.MAX_SAFE_INTEGER,
    resolveFields: async () => ({ purpose: 'batch', expiresAfterSeconds: null }),
  });
  return file;
}

export type BatchOptions = {
  endpoint?: string;
  model?: string | null;
  completionWindow?: string;
  metadata?: Record<string, string> | null;
  outputExpiresAfterSeconds?: number;
  /** The stream-to-batch queue it was cut from, as a dispatch records it. */
  queue?: string;
};

/** Inserts a `validating` batch row the way createBatch does (without starting a workflow). */
export async function insertValidatingBatch(db: Db, tenantId: string, inputFileId: string, options: BatchOptions = {}): Promise<BatchRow> {
  const completionWindow = options.completionWindow ?? '24h';
  return insertBatch(db, {
    id: newBatchId(),
    tenantId,
    endpoint: options.endpoint ?? '/v1/chat/completions',
    model: options.model ?? null,
    inputFileId,
    completionWindow,
    windowSeconds: completionWindowSeconds(completionWindow)!,
    outputExpiresAfterSeconds: options.outputExpiresAfterSeconds ?? null,
    queue: options.queue ?? null,
    retryOf: null,
    metadata: options.metadata ?? null,
  });
}

/** Uploads `lines` and inserts a validating batch reading them. */
export async function batchOfLines(db: Db, tenantId: string, lines: string[] | Buffer, options: BatchOptions = {}): Promise<BatchRow> {
  const file = await uploadInputFile(db, tenantId, lines);
  return insertValidatingBatch(db, tenantId, file.id, options);
}

export const planLimits = (overrides: Partial<PlanLimits> = {}): PlanLimits => ({
  maxRequests: 50_000,
  maxLineBytes: 8 * 1024 * 1024,
  chunkSize: 500,
  defaultModel: undefined,
  // A model no live worker serves fails at once unless a test waits for it.
  modelGraceSeconds: 0,
  ...overrides,
});

/** A batch validated and planned by the real validateAndPlan: in_progress, its request index written. */
export async function plannedBatch(
  db: Db,
  tenantId: string,
  lines: string[],
  options: BatchOptions & { chunkSize?: number } = {},
): Promise<{ batch: BatchRow; plan: Extract<BatchPlan, { outcome: 'in_progress' }> }> {
  const batch = await batchOfLines(db, tenantId, lines, options);
  const plan = await validateAndPlan(db, batch.id, planLimits({ chunkSize: options.chunkSize ?? 500 }));
  if (plan.outcome !== 'in_progress') throw new Error(`fixture batch did not plan: ${JSON.stringify(plan)}`);
  return { batch, plan };
}

/**
 * Announces `models` as served by a live GPU worker of its own, as the inference role does, so
 * validation accepts them: for `endpoints` (default every batch endpoint). Returns the withdrawal.
 */
export async function announceModels(db: Db, models: string[], endpoints: readonly string[] = BATCH_ENDPOINTS): Promise<() => Promise<void>> {
  const workerId = `component-${crypto.randomUUID()}`;
  await heartbeatInferenceWorker(
    db,
    workerId,
    models.map((model) => ({ model, endpoints: [...endpoints] })),
  );
  return () => removeInferenceWorker(db, workerId);
}

/** A request body as `InferenceClient.execute` sends it: JSON text, and the model that picks its backends. */
export const inferenceRequest = (body: { model?: string } & Record<string, unknown>) => ({ text: JSON.stringify(body), model: body.model });

/** Every planned request of the batch, chunk by chunk, before any ran: the request index as chunks read it. */
export async function requestIndex(db: Db, batchId: string, chunkCount: number): Promise<Array<PendingRequest & { chunk_no: number }>> {
  const rows: Array<PendingRequest & { chunk_no: number }> = [];
  for (let chunkNo = 0; chunkNo < chunkCount; chunkNo++) {
    for (const row of await findPendingRequests(db, batchId, chunkNo)) rows.push({ ...row, chunk_no: chunkNo });
  }
  return rows;
}

/** Every planned request of the batch with its checkpointed outcome (nulls when none), in input order. */
export async function requestsWithResults(db: Db, batchId: string): Promise<RequestWithResult[]> {
  const rows: RequestWithResult[] = [];
  // Chunks are numbered from 0 without gaps.
  for (let chunkNo = 0; ; chunkNo++) {
    const chunk = await readChunkWithResults(db, batchId, chunkNo, 0, 1_000_000);
    if (chunk.length === 0) return rows;
    rows.push(...chunk);
  }
}

/** A stored file's bytes, as GET /v1/files/{id}/content streams them. */
export async function readFileText(db: Db, fileId: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of readFileContent(db, fileId)) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

/** An output or error file's lines, parsed; none for a null file ID. */
export async function readResultFile(db: Db, fileId: string | null): Promise<ResultLine[]> {
  if (fileId === null) return [];
  return (await readFileText(db, fileId))
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ResultLine);
}

export type TestInference = { pool: BackendPool; inference: InferenceClient; stop(): Promise<void> };

/**
 * A real backend pool and inference client on the stack's simulator, built as the inference role
 * builds them (src/roles/inferenceRole.ts), and in rotation before it is returned.
 */
export async function startInference(options: { timeoutMs?: number } = {}): Promise<TestInference> {
  const pool = new BackendPool([backendTarget(testStack().simulatorUrl, undefined)], { maxDepth: 1024, health: DEFAULT_HEALTH_POLICY });
  const inference = new InferenceClient({ pool, timeoutMs: options.timeoutMs ?? 30_000, attempts: DEFAULT_ATTEMPT_POLICY });
  pool.start();
  await Promise.all(pool.backends.map((b) => b.health.firstProbe));
  await waitFor(() => pool.serving(SIMULATOR_MODEL), { timeoutMs: 10_000, intervalMs: 50, what: 'the simulator in rotation' });
  return {
    pool,
    inference,
    async stop() {
      await pool.stop();
      await inference.close();
    },
  };
}

/** Inference requests the stack's simulator has received so far (tests in a file run one at a time). */
export async function simulatorRequests(): Promise<number> {
  const response = await fetch(testStack().simulatorUrl.replace(/\/v1$/, '/sim/stats'));
  return ((await response.json()) as { requests: number }).requests;
}

/** A checkpointed outcome of one line, as runChunk would store it: a response (any status) or an error without one. */
export type LineOutcome = { lineNo: number } & ({ status: number; body?: unknown; tokens?: [number, number] } | { error: string; message?: string });

/** Checkpoints outcomes through the real store (counters included), as a chunk's flush does; returns how many were new. */
export async function checkpoint(db: Db, batchId: string, outcomes: LineOutcome[]): Promise<number> {
  const results: RequestResult[] = outcomes.map((o) => {
    const requestId = batchRequestId(batchId, o.lineNo);
    if ('error' in o) {
      return {
        lineNo: o.lineNo,
        requestId,
        statusCode: null,
        responseJson: null,
        errorCode: o.error,
        errorMessage: o.message ?? o.error,
        inputTokens: 0,
        outputTokens: 0,
      };
    }
    const [inputTokens, outputTokens] = o.tokens ?? [0, 0];
    const body = o.body ?? { object: 'chat.completion', line: o.lineNo };
    return { lineNo: o.lineNo, requestId, statusCode: o.status, responseJson: JSON.stringify(body), errorCode: null, errorMessage: null, inputTokens, outputTokens };
  });
  return storeResults(db, batchId, results);
}

/**
 * A transition committed only when the test says so: its UPDATE holds the batch row, so a
 * concurrent writer's conditional UPDATE of that row waits for the commit and then re-reads the
 * status. `pid` is the holding backend's, to see who waits on it (`waitUntilBlocking`).
 */
export async function holdTransition(
  db: Db,
  batchId: string,
  to: Exclude<BatchStatus, typeof INITIAL_STATUS>,
  fields: Parameters<typeof transitionBatch>[3] = {},
): Promise<{ pid: number; moved: BatchRow; commit(): Promise<void>; rollback(): Promise<void> }> {
  const client = await db.connect();
  let open = true;
  const end = async (statement: 'COMMIT' | 'ROLLBACK') => {
    if (!open) return;
    open = false;
    try {
      await client.query(statement);
    } finally {
      client.release();
    }
  };
  try {
    await client.query('BEGIN');
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const moved = await transitionBatch(client, batchId, to, fields);
    if (!moved) throw new Error(`batch ${batchId} cannot move to ${to}`);
    return { pid, moved, commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') };
  } catch (err) {
    await end('ROLLBACK');
    throw err;
  }
}

/** Waits until some statement of another session is blocked by the backend `pid`. */
export async function waitUntilBlocking(db: Db, pid: number, what: string): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, [pid]);
      return rows[0]!.n > 0;
    },
    { timeoutMs: 10_000, intervalMs: 20, what },
  );
}
