import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_COMPLETION_WINDOW, parseEndpointList, type BatchEndpoint } from '../domain/endpoints';
import type { DbTimeouts } from '../db/pool';
import type { WorkerDeployment } from '../temporal/deployments';
import { completionWindowSeconds } from '../domain/window';
import type { QueueDefaults } from '../queues/settings';
import { DEFAULT_HEALTH_POLICY, type HealthPolicy } from '../inference/health';
import { backendTarget, type BackendTarget } from '../inference/target';
import { credentialsIn, registerSecrets } from '../secrets';
import { OPERATOR_DEFAULT_TENANT, type KeyHolder, type KeyScope } from '../states/apiKey';
import { WebhookSecret } from '../webhooks/config';
import { envBool, envInt, envList, envLogLevel, optionalString, parseEnv } from './env';
import { logger } from '../logger';

const WORKER_ROLES = ['orchestrator', 'inference'] as const;

/** A VLLM_BASE_URL entry, `[name=]url`: a name (letters, digits, dots, dashes, underscores) labels the backend instead of its URL. */
const BackendEntry = z
  .string()
  .transform((entry) => {
    const named = /^([A-Za-z0-9._-]+)=(.*)$/.exec(entry);
    return named ? { name: named[1], url: named[2]! } : { name: undefined, url: entry };
  })
  .pipe(z.object({ name: z.string().or(z.undefined()), url: z.url({ protocol: /^https?$/ }) }));
export type WorkerRole = (typeof WORKER_ROLES)[number];

const schema = z
  .object({
    PORT: envInt(4080),
    HOST: z.string().default('0.0.0.0'),
    HTTP_HEADERS_TIMEOUT_MS: envInt(20_000, 1000),
    HTTP_IDLE_TIMEOUT_MS: envInt(60_000, 1000),
    HTTP_REQUEST_TIMEOUT_MS: envInt(3_600_000, 1000),
    DATA_DIR: z.string().default('./data'),
    LOG_LEVEL: envLogLevel,

    DATABASE_URL: optionalString,
    API_DB_POOL_SIZE: envInt(10, 2),
    WORKER_DB_POOL_SIZE: envInt(10, 2),
    DB_CONNECT_TIMEOUT_MS: envInt(10_000, 100),
    DB_STATEMENT_TIMEOUT_MS: envInt(60_000, 100),
    EMBEDDED_POSTGRES_PORT: envInt(54329, 1),

    TEMPORAL_ADDRESS: optionalString,
    TEMPORAL_NAMESPACE: z.string().default('default'),
    TEMPORAL_DEV_PORT: envInt(7233, 1),
    TEMPORAL_UI_PORT: envInt(8233, 1),
    TEMPORAL_CLI_PATH: optionalString,
    WORKER_DEPLOYMENT_NAME: optionalString,
    WORKER_BUILD_ID: optionalString,
    WORKER_DEPLOYMENT_PROMOTE: envBool(true),

    VLLM_BASE_URL: envList.pipe(z.array(BackendEntry)),
    VLLM_API_KEY: optionalString,
    VLLM_MODELS: envList,
    // Endpoint paths, or `generation` / `pooling` for all of a kind's; empty: discovered per backend.
    VLLM_ENDPOINTS: envList.transform((entries, ctx) => {
      const parsed = parseEndpointList(entries);
      if ('endpoints' in parsed) return parsed.endpoints;
      ctx.addIssue({ code: 'custom', message: `unknown endpoint "${parsed.unknown}": use generation, pooling, or batch endpoint paths (/v1/chat/completions, …)` });
      return z.NEVER;
    }),
    DEFAULT_MODEL: optionalString,
    MODEL_GRACE_SECONDS: envInt(600, 0),
    MAX_INFLIGHT_PER_BACKEND: envInt(1024, 1),
    BACKEND_FAILURE_THRESHOLD: envInt(5, 1),
    BACKEND_PROBE_INTERVAL_MS: envInt(500, 50),
    CHUNK_STALL_TIMEOUT_MS: envInt(60_000, 1000),
    // Longer than the outages the service waits out (README: Outages), so a PostgreSQL restart or failover costs no GPU work.
    RESULT_WRITE_RETRY_MS: envInt(360_000, 0),
    REQUEST_TIMEOUT_MS: envInt(600_000, 1),
    REQUEST_MAX_ATTEMPTS: envInt(6, 1),

    MAX_FILE_BYTES: envInt(200 * 1024 * 1024, 1),
    MAX_REQUESTS_PER_BATCH: envInt(50_000, 1),
    MAX_CONCURRENT_UPLOADS_PER_TENANT: envInt(8, 1),
    CHUNK_SIZE: envInt(500, 1),
    CHUNKS_IN_FLIGHT_PER_BATCH: envInt(16, 1),
    CHUNK_HEARTBEAT_TIMEOUT_MS: envInt(20_000, 1000),

    API_KEYS: envList,
    OPERATOR_API_KEYS: envList,
    WORKER_ROLES: envList.pipe(z.array(z.enum(WORKER_ROLES))),
    SIMULATOR_PORT: envInt(0),
    // Empty is unset, as compose files pass `${METRICS_PORT:-}`: unset keeps a process with the API serving /metrics on its port.
    METRICS_PORT: optionalString.pipe(z.coerce.number<string | undefined>().int().min(0).optional()),
    METRICS_BEARER_TOKEN: optionalString,
    SHUTDOWN_GRACE_MS: envInt(30_000, 0),
    RECONCILE_INTERVAL_SECONDS: envInt(300, 1),
    RETENTION_INTERVAL_SECONDS: envInt(600, 1),
    UPLOAD_SWEEP_INTERVAL_SECONDS: envInt(300, 1),

    QUEUE_MODEL: optionalString,
    QUEUE_THRESHOLD: envInt(1000, 1),
    QUEUE_TIME_THRESHOLD_SECONDS: z.coerce
      .number()
      .min(0)
      .max(30 * 86_400)
      .default(60),
    QUEUE_TIME_INTERVAL_SECONDS: z.coerce.number().min(0.1).max(3600).default(5),
    QUEUE_COMPLETION_WINDOW: z
      .string()
      .default(DEFAULT_COMPLETION_WINDOW)
      .refine((w) => completionWindowSeconds(w) !== undefined, 'must be 24h or a duration like 90s, 30m, 12h, 7d, at most 30d'),
    QUEUE_MAX_BATCH_SIZE: z.coerce.number().int().min(1).optional(),
    MAX_QUEUED_REQUESTS_PER_TENANT: envInt(100_000, 1),
    MAX_REQUESTS_PER_CALL: envInt(1000, 1),
    MAX_ENQUEUE_BYTES: envInt(8 * 1024 * 1024, 1024),

    WEBHOOK_SECRET: optionalString.pipe(WebhookSecret.optional()),
    WEBHOOK_ALLOW_PRIVATE: envBool(false),
    WEBHOOK_ATTEMPT_TIMEOUT_MS: envInt(10_000, 100).pipe(z.number().max(120_000)),
  })
  .refine((e) => (e.WORKER_DEPLOYMENT_NAME === undefined) === (e.WORKER_BUILD_ID === undefined), {
    message: 'set both WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID (Worker Versioning), or neither',
    path: ['WORKER_BUILD_ID'],
  });

export type Config = Readonly<{
  port: number;
  host: string;
  /** Slow or stalled clients: time to send the headers, longest silence, longest whole request. */
  http: { headersTimeoutMs: number; idleTimeoutMs: number; requestTimeoutMs: number };
  dataDir: string;
  databaseUrl: string | undefined;
  /** Separate pools, so no load on the API (uploads, many clients) can starve the workers, nor the reverse. */
  dbPoolSize: { api: number; worker: number };
  /** Longest wait for a connection (a free one in the pool, or a new one), and longest statement. */
  dbTimeouts: DbTimeouts;
  embeddedPostgresPort: number;
  temporal: {
    address: string | undefined;
    namespace: string;
    devPort: number;
    uiPort: number;
    cliPath: string | undefined;
    /**
     * Worker Versioning (orchestrator role): the Worker Deployment and this build's ID. Batch
     * workflows are pinned to the build that started them; unset, workers are unversioned.
     */
    deployment: (WorkerDeployment & { promoteOnStart: boolean }) | undefined;
  };
  vllm: {
    /** VLLM_BASE_URL's servers, their credentials (or VLLM_API_KEY) moved into a header and their labels redacted. */
    backends: BackendTarget[];
    models: string[];
    /** VLLM_ENDPOINTS: what every backend serves; undefined: each backend's own, discovered. */
    endpoints: BatchEndpoint[] | undefined;
    defaultModel: string | undefined;
    /** The ceiling of the per-backend depth, which is found at run time below it. */
    maxInflightPerBackend: number;
    requestTimeoutMs: number;
    requestMaxAttempts: number;
    health: HealthPolicy;
    /** A chunk that finishes nothing this long while no backend is in rotation fails, retryably, to move elsewhere. */
    chunkStallTimeoutMs: number;
    /** How long a GPU worker retries storing finished results before it gives the chunk up. */
    resultWriteRetryMs: number;
  };
  limits: { maxFileBytes: number; maxRequestsPerBatch: number; maxConcurrentUploadsPerTenant: number };
  chunkSize: number;
  chunksInFlightPerBatch: number;
  chunkHeartbeatTimeoutMs: number;
  /** How long after creation a batch whose model no live GPU worker serves waits for one before it fails (orchestrator role). */
  modelGraceSeconds: number;
  workerRoles: WorkerRole[];
  /** API key (API_KEYS, OPERATOR_API_KEYS) → its tenant and scope. Empty, with no key stored either, means open single-tenant mode. */
  apiKeys: ReadonlyMap<string, KeyHolder>;
  simulatorPort: number;
  metrics: {
    /**
     * METRICS_PORT: a listener of its own for GET /metrics and the detailed /readyz (0: any free
     * port, logged). Unset: 9464 in a process without the API; with the API, /metrics stays on the
     * API's port, for operator keys and the bearer token only.
     */
    port: number | undefined;
    /** METRICS_BEARER_TOKEN: when set, every scrape must send it as `Authorization: Bearer`. */
    bearerToken: string | undefined;
  };
  shutdownGraceMs: number;
  /** How often the reconciler Schedule runs (orchestrator role). */
  reconcileIntervalSeconds: number;
  /** How often the retention Schedule runs (orchestrator role): files expired, ended batches' per-request copies dropped. */
  retentionIntervalSeconds: number;
  /** How often the upload sweep Schedule runs (set by the API role, which knows how long an upload may take): abandoned uploads deleted. */
  uploadSweepIntervalSeconds: number;
  webhooks: { secret: string | undefined; allowPrivate: boolean; attemptTimeoutMs: number };
  /** Stream-to-batch: defaults of unset queue settings, and what one tenant and one call may enqueue. */
  queues: { defaults: QueueDefaults; maxQueuedPerTenant: number; maxRequestsPerCall: number; maxCallBytes: number };
}>;

/**
 * Configuration is parsed once at start-up; everything else receives the typed object. The log
 * level is applied here, so an invalid `LOG_LEVEL` is one clear line like any other setting.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parseEnv(schema, env);
  logger.level = e.LOG_LEVEL;
  const backends = e.VLLM_BASE_URL.map(({ url, name }) => backendTarget(url, e.VLLM_API_KEY, name));
  const apiKeys = new Map([...parseApiKeys(e.API_KEYS, 'tenant'), ...parseApiKeys(e.OPERATOR_API_KEYS, 'operator')]);
  // From here on no log line can carry a secret of the configuration, whoever writes it.
  registerSecrets([
    ...[...e.VLLM_BASE_URL.map((b) => b.url), e.DATABASE_URL ?? '', e.TEMPORAL_ADDRESS ?? ''].flatMap(credentialsIn),
    // The credentials of each backend's Authorization header (`Basic <base64>`), as a header dump would show them.
    ...backends.map((b) => b.authorization?.split(' ')[1]),
    e.VLLM_API_KEY,
    ...apiKeys.keys(),
    e.WEBHOOK_SECRET,
    e.METRICS_BEARER_TOKEN,
  ]);
  return {
    port: e.PORT,
    host: e.HOST,
    http: { headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS, idleTimeoutMs: e.HTTP_IDLE_TIMEOUT_MS, requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS },
    dataDir: path.resolve(e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: { api: e.API_DB_POOL_SIZE, worker: e.WORKER_DB_POOL_SIZE },
    dbTimeouts: { connectMs: e.DB_CONNECT_TIMEOUT_MS, statementMs: e.DB_STATEMENT_TIMEOUT_MS },
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      devPort: e.TEMPORAL_DEV_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      cliPath: e.TEMPORAL_CLI_PATH,
      deployment:
        e.WORKER_DEPLOYMENT_NAME && e.WORKER_BUILD_ID
          ? { name: e.WORKER_DEPLOYMENT_NAME, buildId: e.WORKER_BUILD_ID, promoteOnStart: e.WORKER_DEPLOYMENT_PROMOTE }
          : undefined,
    },
    vllm: {
      backends,
      models: e.VLLM_MODELS,
      endpoints: e.VLLM_ENDPOINTS.length > 0 ? e.VLLM_ENDPOINTS : undefined,
      defaultModel: e.DEFAULT_MODEL,
      maxInflightPerBackend: e.MAX_INFLIGHT_PER_BACKEND,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      requestMaxAttempts: e.REQUEST_MAX_ATTEMPTS,
      health: {
        failureThreshold: e.BACKEND_FAILURE_THRESHOLD,
        probeIntervalMs: e.BACKEND_PROBE_INTERVAL_MS,
        maxProbeIntervalMs: Math.max(e.BACKEND_PROBE_INTERVAL_MS, DEFAULT_HEALTH_POLICY.maxProbeIntervalMs),
      },
      chunkStallTimeoutMs: e.CHUNK_STALL_TIMEOUT_MS,
      resultWriteRetryMs: e.RESULT_WRITE_RETRY_MS,
    },
    limits: {
      maxFileBytes: e.MAX_FILE_BYTES,
      maxRequestsPerBatch: e.MAX_REQUESTS_PER_BATCH,
      maxConcurrentUploadsPerTenant: e.MAX_CONCURRENT_UPLOADS_PER_TENANT,
    },
    chunkSize: e.CHUNK_SIZE,
    chunksInFlightPerBatch: e.CHUNKS_IN_FLIGHT_PER_BATCH,
    chunkHeartbeatTimeoutMs: e.CHUNK_HEARTBEAT_TIMEOUT_MS,
    modelGraceSeconds: e.MODEL_GRACE_SECONDS,
    workerRoles: e.WORKER_ROLES.length > 0 ? e.WORKER_ROLES : [...WORKER_ROLES],
    apiKeys,
    simulatorPort: e.SIMULATOR_PORT,
    metrics: { port: e.METRICS_PORT, bearerToken: e.METRICS_BEARER_TOKEN },
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    reconcileIntervalSeconds: e.RECONCILE_INTERVAL_SECONDS,
    retentionIntervalSeconds: e.RETENTION_INTERVAL_SECONDS,
    uploadSweepIntervalSeconds: e.UPLOAD_SWEEP_INTERVAL_SECONDS,
    webhooks: { secret: e.WEBHOOK_SECRET, allowPrivate: e.WEBHOOK_ALLOW_PRIVATE, attemptTimeoutMs: e.WEBHOOK_ATTEMPT_TIMEOUT_MS },
    queues: {
      defaults: {
        model: e.QUEUE_MODEL ?? e.DEFAULT_MODEL ?? null,
        queue_threshold: e.QUEUE_THRESHOLD,
        time_threshold: e.QUEUE_TIME_THRESHOLD_SECONDS,
        time_interval: e.QUEUE_TIME_INTERVAL_SECONDS,
        completion_window: e.QUEUE_COMPLETION_WINDOW,
        max_batch_size: e.QUEUE_MAX_BATCH_SIZE ?? null,
      },
      maxQueuedPerTenant: e.MAX_QUEUED_REQUESTS_PER_TENANT,
      maxRequestsPerCall: e.MAX_REQUESTS_PER_CALL,
      maxCallBytes: e.MAX_ENQUEUE_BYTES,
    },
  };
}

/**
 * `key` or `key:tenant`. A bare tenant key is its own tenant's only key, named after the key's
 * position; a bare operator key acts for the tenant `operator`.
 */
function parseApiKeys(entries: string[], scope: KeyScope): Map<string, KeyHolder> {
  const keys = new Map<string, KeyHolder>();
  entries.forEach((entry, index) => {
    const fallback = scope === 'operator' ? OPERATOR_DEFAULT_TENANT : `tenant-${index + 1}`;
    const separator = entry.lastIndexOf(':');
    const [key, tenant] = separator > 0 ? [entry.slice(0, separator), entry.slice(separator + 1)] : [entry, fallback];
    keys.set(key, { tenantId: tenant || fallback, scope });
  });
  return keys;
}
