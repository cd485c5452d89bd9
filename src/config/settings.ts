import { z } from 'zod';
import { BATCH_ENDPOINTS, DEFAULT_COMPLETION_WINDOW, parseEndpointList } from '../domain/endpoints';
import { completionWindowSeconds } from '../domain/window';
import { backendTarget } from '../inference/target';
import { SCHEDULER_GAUGE_KINDS } from '../inference/gauges';
import { credentialsIn } from '../secrets';
import { OPERATOR_DEFAULT_TENANT, type KeyHolder, type KeyScope } from '../states/apiKey';
import { WebhookSecret } from '../webhooks/config';
import { setting, type Constraint, type NameOf, type Parsed, type Role } from './declare';
import { envBool, envInt, envList, envLogLevel, optionalString } from './env';

/** The service roles: `npm start` plays all three in one process. */
export const SERVICE_ROLES = ['api', 'orchestrator', 'inference'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];
const WORKER_ROLES = ['orchestrator', 'inference'] as const;

/** A VLLM_BASE_URL entry, `[name=]url`: a name (letters, digits, dots, dashes, underscores) labels the backend instead of its URL. */
const BackendEntry = z
  .string()
  .transform((entry) => {
    const named = /^([A-Za-z0-9._-]+)=(.*)$/.exec(entry);
    return named ? { name: named[1], url: named[2]! } : { name: undefined, url: entry };
  })
  .pipe(z.object({ name: z.string().or(z.undefined()), url: z.url({ protocol: /^https?$/ }) }));

/** Endpoint paths, or `generation` / `pooling` for all of a kind's; empty: none given. */
const endpointList = envList.transform((entries, ctx) => {
  if (entries.length === 0) return undefined;
  const parsed = parseEndpointList(entries);
  if ('endpoints' in parsed) return parsed.endpoints;
  ctx.addIssue({ code: 'custom', message: `unknown endpoint "${parsed.unknown}": use generation, pooling, or batch endpoint paths (/v1/chat/completions, …)` });
  return z.NEVER;
});

const DEFAULT_SIMULATOR_MODEL = 'sim-llama-3.1-8b-instruct';
const rate = z.coerce.number().min(0).max(1).default(0);
const milliseconds = (fallback: number) => z.coerce.number().min(0).default(fallback);
const faultRate = (fault: string) =>
  setting(['simulator', 'start'], rate, `share of requests the simulator answers with ${fault} (0–1; the \`SIMULATOR_RATE_*\` together at most 1)`);

const urlCredentials = { secret: (url: string | undefined) => (url === undefined ? [] : credentialsIn(url)) };
const itself = { secret: (value: string | undefined) => [value] };
const keys = { secret: (holders: ReadonlyMap<string, KeyHolder>) => holders.keys() };

/**
 * Every setting of the service, in the order of README's settings table (`npm run settings:readme`
 * writes it from here; test/unit/settingsTable.test.ts fails when it differs).
 */
export const SETTINGS = {
  PORT: setting(['api'], envInt(4080), 'port of the API'),
  HOST: setting(SERVICE_ROLES, z.string().default('0.0.0.0'), 'address the API and the metrics listener listen on'),
  HTTP_HEADERS_TIMEOUT_MS: setting(['api'], envInt(20_000, 1000), 'a client must send its request headers within this (else `408`)'),
  HTTP_IDLE_TIMEOUT_MS: setting(['api'], envInt(60_000, 1000), 'a connection silent this long is closed (a stalled upload is dropped and leaves nothing)'),
  HTTP_REQUEST_TIMEOUT_MS: setting(
    ['api'],
    envInt(3_600_000, 1000),
    'the longest any request (e.g. a large upload) may take; abandoned uploads older than this are swept',
  ),
  UPLOAD_SWEEP_INTERVAL_SECONDS: setting(
    ['api'],
    envInt(300, 1),
    'how often the `vbs-upload-sweep` Schedule deletes abandoned uploads (what a crash mid-upload left); each API process sets it on start, with the age from its `HTTP_REQUEST_TIMEOUT_MS`; the orchestrators run it',
  ),
  MAX_CONCURRENT_UPLOADS_PER_TENANT: setting(['api'], envInt(8, 1), 'uploads one tenant may have in progress at once, per API process; more → `429`'),
  MAX_FILE_BYTES: setting(['api'], envInt(200 * 1024 * 1024, 1), 'largest accepted upload, in bytes (e.g. `2147483648` for 2 GB)', {
    defaultDoc: '`209715200` (200 MB)',
  }),
  API_KEYS: setting(
    ['api'],
    envList.transform((entries) => parseApiKeys(entries, 'tenant')),
    'tenant keys: `key` or `key:tenant`, comma-separated, besides the keys of `vbs keys create`; no key at all → open single-tenant mode (warned at start-up)',
    keys,
  ),
  OPERATOR_API_KEYS: setting(
    ['api'],
    envList.transform((entries) => parseApiKeys(entries, 'operator')),
    "operator keys, the same way (a bare key acts for tenant `operator`): also let into `/readyz`'s details, `/metrics` on the API's port, cross-tenant reports",
    keys,
  ),
  API_DB_POOL_SIZE: setting(['api'], envInt(10, 2), "PostgreSQL connections of the API: a pool apart from the workers', so neither can starve the other"),
  WORKER_DB_POOL_SIZE: setting(WORKER_ROLES, envInt(10, 2), 'PostgreSQL connections of the worker roles of a process (one pool for both)'),
  DB_CONNECT_TIMEOUT_MS: setting(
    [...SERVICE_ROLES, 'tools'],
    envInt(10_000, 100),
    'longest wait for a PostgreSQL connection (a free one of the pool, or a new one); then the call fails and is retried by its caller (the API answers 503)',
  ),
  DB_STATEMENT_TIMEOUT_MS: setting(
    [...SERVICE_ROLES, 'tools'],
    envInt(60_000, 100),
    'longest statement, lock waits included (the server cancels it; the client gives up 5 s later if the server never answers). Migrations run without it',
  ),
  LOG_LEVEL: setting([...SERVICE_ROLES, 'simulator', 'tools'], envLogLevel, '`fatal` … `trace`, `silent`'),
  DATABASE_URL: setting(
    [...SERVICE_ROLES, 'start', 'tools'],
    optionalString,
    'PostgreSQL; unset → `npm start` embeds one on `EMBEDDED_POSTGRES_PORT` (and `vbs keys` finds it under `DATA_DIR`)',
    urlCredentials,
  ),
  TEMPORAL_ADDRESS: setting([...SERVICE_ROLES, 'start'], optionalString, 'Temporal frontend `host:port`; unset → `npm start` embeds a dev server', urlCredentials),
  TEMPORAL_NAMESPACE: setting([...SERVICE_ROLES, 'start'], z.string().default('default'), 'Temporal namespace'),
  WORKER_DEPLOYMENT_NAME: setting(
    ['orchestrator'],
    optionalString,
    'Worker Versioning: the Worker Deployment (with `WORKER_BUILD_ID`, or neither); batches are pinned to the build that started them. Unset: unversioned workers',
  ),
  WORKER_BUILD_ID: setting(['orchestrator'], optionalString, "Worker Versioning: this build's ID (with `WORKER_DEPLOYMENT_NAME`, or neither)"),
  WORKER_DEPLOYMENT_PROMOTE: setting(['orchestrator'], envBool(true), "with Worker Versioning, make this build the deployment's current version when it starts"),
  DATA_DIR: setting(['start', 'tools'], z.string().default('./data'), 'state of the embedded services'),
  EMBEDDED_POSTGRES_PORT: setting(['start', 'tools'], envInt(54329, 1), 'port of the embedded PostgreSQL'),
  TEMPORAL_DEV_PORT: setting(['start'], envInt(7233, 1), 'port of the embedded Temporal dev server'),
  TEMPORAL_UI_PORT: setting(['start'], envInt(8233, 1), "port of the embedded dev server's Web UI"),
  TEMPORAL_CLI_PATH: setting(
    ['start'],
    optionalString,
    'Temporal CLI binary; else `temporal` on PATH, else `.tools/temporal` (installed by `scripts/ensure-temporal-cli.sh`)',
  ),
  WORKER_ROLES: setting(
    ['worker'],
    envList.pipe(z.array(z.enum(WORKER_ROLES))).transform((roles) => (roles.length > 0 ? roles : [...WORKER_ROLES])),
    'the worker roles `npm run worker` plays: `orchestrator`, `inference` (comma-separated)',
  ),
  METRICS_PORT: setting(
    SERVICE_ROLES,
    // Empty is unset, as compose files pass `${METRICS_PORT:-}`: unset keeps a process with the API serving /metrics on its port.
    optionalString.pipe(z.coerce.number<string | undefined>().int().min(0).optional()),
    'the metrics listener: `GET /metrics` and the detailed `GET /readyz` (`0`: any free port, logged). Unset: `9464` in a worker process without the API; a process with the API serves `/metrics` on its port instead, to operator keys and `METRICS_BEARER_TOKEN` only',
  ),
  METRICS_BEARER_TOKEN: setting(
    SERVICE_ROLES,
    optionalString,
    "when set, scrapes (and the metrics listener's `/readyz`) must send `Authorization: Bearer <token>`",
    itself,
  ),
  SHUTDOWN_GRACE_MS: setting(WORKER_ROLES, envInt(30_000, 0), 'how long workers drain on shutdown'),
  RECONCILE_INTERVAL_SECONDS: setting(
    ['orchestrator'],
    envInt(300, 1),
    'how often the `vbs-reconcile` Schedule finishes batches whose workflow ended early (terminated from the UI); each orchestrator sets it on start',
  ),
  RETENTION_INTERVAL_SECONDS: setting(
    ['orchestrator'],
    envInt(600, 1),
    'how often the `vbs-retention` Schedule deletes expired files and drops the per-request copies of ended batches; each orchestrator sets it on start',
  ),
  MAX_REQUESTS_PER_BATCH: setting(
    ['orchestrator'],
    envInt(50_000, 1),
    'most requests in one batch (e.g. `1000000`), checked by validation; the API refuses a queue `max_batch_size` above it',
    { published: true },
  ),
  DEFAULT_MODEL: setting(['orchestrator'], optionalString, 'model for lines and batches that name none, and of queues when `QUEUE_MODEL` is unset', {
    published: true,
  }),
  CHUNK_SIZE: setting(['orchestrator'], envInt(500, 1), 'requests per chunk activity'),
  CHUNKS_IN_FLIGHT_PER_BATCH: setting(
    ['orchestrator'],
    envInt(16, 1),
    "the fewest chunks of one batch scheduled at once. A batch's window follows the GPU workers serving its model: twice the depths their backends have found, in chunks, plus two per worker (up to 500), re-read while the window is full; this floor covers a fleet smaller than that or not known yet ([How the GPU worker dispatches](#how-the-gpu-worker-dispatches-the-inference-role))",
  ),
  CHUNK_HEARTBEAT_TIMEOUT_MS: setting(['orchestrator'], envInt(20_000, 1000), 'a GPU worker silent this long is presumed dead; its chunk is retried elsewhere'),
  MODEL_GRACE_SECONDS: setting(
    ['orchestrator'],
    envInt(600, 0),
    'how long after its creation a batch whose model no live GPU worker serves waits, `validating`, for one before it fails `model_not_found` ([Outages](#outages-of-postgresql-temporal-or-a-backend))',
  ),
  QUEUE_MODEL: setting(['orchestrator'], optionalString, 'model of queues that set none (stream-to-batch)', { published: true, defaultDoc: '`DEFAULT_MODEL`' }),
  QUEUE_THRESHOLD: setting(
    ['orchestrator'],
    envInt(1000, 1),
    "default `queue_threshold`: dispatch when this many requests are queued (langbatch's default is 50000, tuned for OpenAI's prices; on your own GPUs waiting costs idle GPUs)",
    { published: true },
  ),
  QUEUE_TIME_THRESHOLD_SECONDS: setting(
    ['orchestrator'],
    z.coerce
      .number()
      .min(0)
      .max(30 * 86_400)
      .default(60),
    'default `time_threshold`: dispatch once the oldest queued request waited this long',
    { published: true },
  ),
  QUEUE_TIME_INTERVAL_SECONDS: setting(
    ['orchestrator'],
    z.coerce.number().min(0.1).max(3600).default(5),
    'default `time_interval`: seconds between checks of the time threshold',
    { published: true },
  ),
  QUEUE_COMPLETION_WINDOW: setting(
    ['orchestrator'],
    z
      .string()
      .default(DEFAULT_COMPLETION_WINDOW)
      .refine((w) => completionWindowSeconds(w) !== undefined, 'must be 24h or a duration like 90s, 30m, 12h, 7d, at most 30d'),
    'default completion window of the batches queues create',
    { published: true },
  ),
  QUEUE_MAX_BATCH_SIZE: setting(['orchestrator'], z.coerce.number().int().min(1).optional(), 'default `max_batch_size` (at most `MAX_REQUESTS_PER_BATCH`)', {
    published: true,
    defaultDoc: "the queue's threshold",
  }),
  MAX_QUEUED_REQUESTS_PER_TENANT: setting(['api'], envInt(100_000, 1), 'queued requests a tenant may have across its queues; more → `429 queue_full` with `Retry-After`'),
  MAX_REQUESTS_PER_CALL: setting(['api'], envInt(1000, 1), 'items one `POST /v1/requests` may carry (more → `400 too_many_requests`)'),
  MAX_ENQUEUE_BYTES: setting(['api'], envInt(8 * 1024 * 1024, 1024), 'largest `POST /v1/requests` body (more → `413`)', { defaultDoc: '`8388608` (8 MiB)' }),
  WEBHOOK_SECRET: setting(
    ['orchestrator'],
    optionalString.pipe(WebhookSecret.optional()),
    'server-wide webhook signing secret (a per-batch `webhook.secret` overrides it); `whsec_…` secrets are base64',
    itself,
  ),
  WEBHOOK_ALLOW_PRIVATE: setting(
    ['api', 'orchestrator'],
    envBool(false),
    'allow webhook destinations in private, loopback and link-local ranges (the API vets them on create, deliveries again); cloud metadata endpoints stay refused',
  ),
  WEBHOOK_ATTEMPT_TIMEOUT_MS: setting(['orchestrator'], envInt(10_000, 100).pipe(z.number().max(120_000)), 'timeout of one delivery attempt (at most 120000)'),
  VLLM_BASE_URL: setting(
    ['inference', 'start'],
    envList.pipe(z.array(BackendEntry)),
    'comma-separated OpenAI base URLs incl. `/v1`, each optionally with `user:password@` (sent as Basic authorization, never shown: backends appear by their label) and a `name=` in front (the label then); unset → `npm start` embeds the simulator',
    {
      secret: (backends: { name: string | undefined; url: string }[]) =>
        backends.flatMap(({ url, name }) => [...credentialsIn(url), backendTarget(url, undefined, name).authorization?.split(' ')[1]]),
    },
  ),
  VLLM_API_KEY: setting(['inference'], optionalString, 'bearer token sent to the backends whose URL carries no credentials of its own', itself),
  VLLM_MODELS: setting(['inference'], envList, 'models this GPU worker serves (else `GET /v1/models` of its backends)', { defaultDoc: 'discovered' }),
  VLLM_ENDPOINTS: setting(
    ['inference'],
    endpointList,
    "batch endpoints its backends serve: paths (`/v1/responses,/v1/rerank`) or `generation` (chat, completions, responses) / `pooling` (embeddings, score, rerank); else each backend's `/openapi.json` (every endpoint when it publishes none). With `VLLM_MODELS` set, set this too: a configured model no backend has listed yet is announced at every endpoint until one does",
    { defaultDoc: 'discovered' },
  ),
  MAX_INFLIGHT_PER_BACKEND: setting(
    ['inference'],
    envInt(1024, 1),
    'ceiling of the requests in flight per backend, across all batches in the process (the depth itself is found at run time)',
  ),
  BACKEND_FAILURE_THRESHOLD: setting(['inference'], envInt(5, 1), 'server failures in a row that take a backend out of rotation'),
  BACKEND_PROBE_INTERVAL_MS: setting(['inference'], envInt(500, 50), 'first wait before probing a backend that is down or not up yet (backs off to 5 s)'),
  CHUNK_STALL_TIMEOUT_MS: setting(
    ['inference'],
    envInt(60_000, 1000),
    'a chunk that finishes nothing this long with no backend in rotation fails, to be retried (possibly elsewhere)',
  ),
  RESULT_WRITE_RETRY_MS: setting(
    ['inference'],
    // Longer than the outages the service waits out (README: Outages), so a PostgreSQL restart or failover costs no GPU work.
    envInt(360_000, 0),
    "how long finished results wait in memory (at most a chunk's) while PostgreSQL refuses writes (restart, failover) before the chunk gives up and is retried",
  ),
  REQUEST_TIMEOUT_MS: setting(['inference'], envInt(600_000, 1), 'per-attempt timeout of one inference request'),
  REQUEST_MAX_ATTEMPTS: setting(
    ['inference'],
    envInt(6, 1),
    'attempts per request, spent on 429s and on server failures after which the server still answers a probe (outages are waited out)',
  ),
  SIMULATOR_PORT: setting(
    ['simulator', 'start'],
    envInt(8000),
    'port of the vLLM simulator: `npm run simulator`, and the one `npm start` embeds when `VLLM_BASE_URL` is unset (on loopback)',
  ),
  SIMULATOR_HOST: setting(['simulator'], z.string().default('0.0.0.0'), 'address `npm run simulator` listens on'),
  SIMULATOR_GPUS: setting(
    ['simulator'],
    envInt(1, 1),
    "simulated GPUs `npm run simulator` serves, each a server of its own (as many vLLMs) on `SIMULATOR_PORT` + n (`0`: any free ports), with its own capacity; `POST /sim/gpus/<n>/down` (`?mode=crash`: connections reset, then refused; `?mode=503`) and `/up` on any of them fail and revive one, `GET /sim/fleet` gives every GPU's stats and the totals",
  ),
  SIMULATOR_MODELS: setting(
    ['simulator', 'start'],
    envList.transform((models) => (models.length > 0 ? models : [DEFAULT_SIMULATOR_MODEL])),
    'models the simulator lists and answers',
  ),
  SIMULATOR_ENDPOINTS: setting(
    ['simulator', 'start'],
    endpointList.transform((endpoints) => endpoints ?? [...BATCH_ENDPOINTS]),
    'batch endpoints the simulator serves (paths, `generation` or `pooling`, as a vLLM of that kind would), listed at `/openapi.json` as vLLM does',
    { defaultDoc: 'every batch endpoint' },
  ),
  SIMULATOR_CAPACITY: setting(['simulator', 'start'], envInt(64, 1), 'requests in service at once; the others queue, as on a GPU'),
  SIMULATOR_GAUGES: setting(
    ['simulator', 'start'],
    z.enum(SCHEDULER_GAUGE_KINDS).default('vllm'),
    'scheduler gauges the simulator exports at `/metrics`: `vllm`, `sglang` or `tgi` names, or `none` (404, as a server without metrics)',
  ),
  SIMULATOR_BASE_LATENCY_MS: setting(['simulator', 'start'], milliseconds(15), 'latency of every request'),
  SIMULATOR_MS_PER_OUTPUT_TOKEN: setting(['simulator', 'start'], milliseconds(0.2), 'latency per output token'),
  SIMULATOR_MS_PER_PROMPT_TOKEN: setting(['simulator', 'start'], milliseconds(0.01), 'latency per prompt token'),
  SIMULATOR_RATE_429: faultRate('`429` and `Retry-After`'),
  SIMULATOR_RATE_500: faultRate('`500`'),
  SIMULATOR_RATE_RESET: faultRate('a connection reset'),
  SIMULATOR_RATE_HANG: faultRate('no answer at all'),
  SIMULATOR_RATE_MALFORMED: faultRate('malformed JSON'),
  SIMULATOR_RETRY_AFTER_S: setting(['simulator', 'start'], envInt(1), "the `Retry-After` of the simulator's 429s"),
  SIMULATOR_SEED: setting(['simulator', 'start'], envInt(42), "seed of the simulator's fault draws"),
};

/** Rules across settings, checked when a role reads all of theirs. */
export const CONSTRAINTS: readonly Constraint[] = [
  constraint(
    ['WORKER_DEPLOYMENT_NAME', 'WORKER_BUILD_ID'],
    (s) => (s.WORKER_DEPLOYMENT_NAME === undefined) === (s.WORKER_BUILD_ID === undefined),
    'set both WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID (Worker Versioning), or neither',
    'WORKER_BUILD_ID',
  ),
  // One uniform draw picks at most one fault, so the rates partition [0, 1).
  constraint(
    ['SIMULATOR_RATE_429', 'SIMULATOR_RATE_500', 'SIMULATOR_RATE_RESET', 'SIMULATOR_RATE_HANG', 'SIMULATOR_RATE_MALFORMED'],
    (s) => s.SIMULATOR_RATE_429 + s.SIMULATOR_RATE_500 + s.SIMULATOR_RATE_RESET + s.SIMULATOR_RATE_HANG + s.SIMULATOR_RATE_MALFORMED <= 1,
    'SIMULATOR_RATE_* must sum to at most 1',
    'SIMULATOR_RATE_429',
  ),
];

export type SettingName = keyof typeof SETTINGS;
/** The settings any of `R` reads, typed. */
export type Settings<R extends Role> = Parsed<typeof SETTINGS, NameOf<typeof SETTINGS, R>>;
/** The settings an owner publishes for the other roles (`published: true`). */
export type PublishedName = { [K in SettingName]: (typeof SETTINGS)[K] extends { published: true } ? K : never }[SettingName];
export type PublishedSettings = Parsed<typeof SETTINGS, PublishedName>;

function constraint<const N extends SettingName>(names: readonly N[], holds: (values: Parsed<typeof SETTINGS, N>) => boolean, message: string, path: N): Constraint {
  return { names, path, message, holds: (values) => holds(values as Parsed<typeof SETTINGS, N>) };
}

/**
 * `key` or `key:tenant`. A bare tenant key is its own tenant's only key, named after the key's
 * position; a bare operator key acts for the tenant `operator`.
 */
function parseApiKeys(entries: string[], scope: KeyScope): ReadonlyMap<string, KeyHolder> {
  const keys = new Map<string, KeyHolder>();
  entries.forEach((entry, index) => {
    const fallback = scope === 'operator' ? OPERATOR_DEFAULT_TENANT : `tenant-${index + 1}`;
    const separator = entry.lastIndexOf(':');
    const [key, tenant] = separator > 0 ? [entry.slice(0, separator), entry.slice(separator + 1)] : [entry, fallback];
    keys.set(key, { tenantId: tenant || fallback, scope });
  });
  return keys;
}
