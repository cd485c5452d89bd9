import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { logger } from '../logger';
import { Semaphore } from '../inference/semaphore';
import type { SimulatorOptions } from './config';
import { ApiError, errorBody } from '../api/errors';
import { FaultInjector, type FaultKind } from './faults';
import { parseJson, readBody, requestId, sendBody, sendJson } from './http';
import { chatCompletion, completion, embeddings, rerank, responses, score, type Inference } from './openai';
import { isBatchEndpoint, type BatchEndpoint } from '../domain/endpoints';
import { SCHEDULER_GAUGES } from '../inference/gauges';

export type SimulatorStats = {
  requests: number;
  /** When the first inference request arrived (epoch ms), null before it. */
  firstArrivalAt: number | null;
  /** When the latest inference request arrived (epoch ms), null before the first. */
  lastArrivalAt: number | null;
  completed: number;
  inService: number;
  queued: number;
  peakInService: number;
  faults: Record<string, number>;
};

/**
 * How a GPU fails. `crash`: its server dies, as vLLM does when its engine or GPU fails: the requests
 * in flight lose their connections (reset) and new ones are refused until it is up again. `503`: the
 * server stays up but cannot serve, as behind a gateway or while its engine restarts: the requests in
 * flight and every new request are answered 503.
 */
export const DOWN_MODES = ['crash', '503'] as const;
export type DownMode = (typeof DOWN_MODES)[number];

export type RunningSimulator = {
  /** OpenAI-style base URL ending in /v1, e.g. http://127.0.0.1:PORT/v1. */
  baseUrl: string;
  port: number;
  stats(): SimulatorStats;
  /** While false, every route answers 503, as a server that is up but cannot serve (draining, reloading). */
  setAvailable(available: boolean): void;
  /** Fails the GPU (`DownMode`): the work in flight is lost. */
  down(mode: DownMode): Promise<void>;
  /** Serves again, on the same port. */
  up(): Promise<void>;
  /** How it is down, null while it serves. */
  readonly downMode: DownMode | null;
  close: () => Promise<void>;
};

/** Routes of a whole fleet, answered on every GPU's port (the fleet's control plane). */
type FleetRoutes = (endpoint: string, query: URLSearchParams, res: ServerResponse) => Promise<boolean>;

const INFERENCE_ROUTES: Record<BatchEndpoint, (body: unknown) => Inference> = {
  '/v1/chat/completions': chatCompletion,
  '/v1/completions': completion,
  '/v1/responses': responses,
  '/v1/embeddings': embeddings,
  '/v1/score': score,
  '/v1/rerank': rerank,
};

export function startSimulator(options: SimulatorOptions, port = 0, host = '127.0.0.1'): Promise<RunningSimulator> {
  return startGpu(options, port, host, undefined);
}

async function startGpu(options: SimulatorOptions, port: number, host: string, fleetRoutes: FleetRoutes | undefined): Promise<RunningSimulator> {
  const log = logger.child({ component: 'simulator' });
  // At most `capacity` requests in service, the rest queued in arrival order: continuous batching
  // with a maximum batch size, which is what clients of vLLM experience.
  const slots = new Semaphore(options.capacity);
  let peakInService = 0;
  const faults = new FaultInjector(options.faults, options.seed);
  const counters = { requests: 0, completed: 0, firstArrivalAt: null as number | null, lastArrivalAt: null as number | null };
  const startedAt = Math.floor(Date.now() / 1000);
  const modelList = {
    object: 'list',
    data: options.models.map((id) => ({ id, object: 'model', created: startedAt, owned_by: 'vllm-simulator' })),
  };

  const openApi = {
    openapi: '3.1.0',
    info: { title: 'vLLM simulator', version: '0' },
    paths: Object.fromEntries(options.endpoints.map((path) => [path, { post: { responses: { '200': { description: 'Successful Response' } } } }])),
  };

  const stats = (): SimulatorStats => ({
    ...counters,
    inService: slots.active,
    queued: slots.waiting,
    peakInService,
    faults: faults.counts(),
  });

  let available = true;
  let downMode: DownMode | null = null;
  // Aborted when the GPU fails: what it had in flight is lost.
  let failure = new AbortController();
  const unavailable = () => new ApiError(503, 'server_error', null, 'Service unavailable (simulated).');

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname;
    const endpoint = `${req.method} ${path}`;
    if (endpoint === 'GET /sim/stats') return sendJson(res, 200, stats());
    if (fleetRoutes && (await fleetRoutes(endpoint, url.searchParams, res))) return;
    if (!available || downMode !== null) throw unavailable();
    if (endpoint === 'GET /health') return sendJson(res, 200, { status: 'ok' });
    // The scheduler gauges GPU workers read to find a backend's depth; a server without them has no /metrics.
    if (endpoint === 'GET /metrics' && options.gauges !== 'none')
      return sendBody(res, 200, schedulerGauges(options.gauges), { 'content-type': 'text/plain; version=0.0.4' });
    if (endpoint === 'GET /v1/models') return sendJson(res, 200, modelList);
    // As vLLM (FastAPI) publishes its routes: only those of the kind of model it runs.
    if (endpoint === 'GET /openapi.json') return sendJson(res, 200, openApi);
    const handler = req.method === 'POST' && isBatchEndpoint(path) && options.endpoints.includes(path) ? INFERENCE_ROUTES[path] : undefined;
    if (!handler) throw new ApiError(404, 'invalid_request_error', null, `Invalid URL (${endpoint})`);
    await serveInference(req, res, handler);
  }

  async function serveInference(req: IncomingMessage, res: ServerResponse, handler: (body: unknown) => Inference): Promise<void> {
    counters.requests += 1;
    counters.lastArrivalAt = Date.now();
    counters.firstArrivalAt ??= counters.lastArrivalAt;
    const raw = await readBody(req);
    const inference = handler(parseJson(raw));
    if (!options.models.includes(inference.model)) {
      throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model \`${inference.model}\` does not exist.`, 'model');
    }
    const fault = faults.decide(inference.promptText, raw);
    // Rejections happen at the door, as a gateway or an overloaded server would; a hung request
    // holds no GPU slot, so hangs cannot silently shrink the capacity other tests rely on.
    if (fault === '429' || fault === '400' || fault === 'hang') return rejectAtDoor(res, fault);

    // A client that gives up frees its slot or its place in the queue, as vLLM aborts such requests.
    const clientGone = new AbortController();
    res.once('close', () => clientGone.abort());
    const failed = failure.signal;
    const signal = AbortSignal.any([clientGone.signal, failed]);
    try {
      await slots.acquire(signal);
      peakInService = Math.max(peakInService, slots.active);
      try {
        await sleep(serviceMs(inference), undefined, { signal });
      } finally {
        slots.release();
      }
    } catch (err) {
      // A crashed GPU's connections are gone already; a 503 one answers.
      throw failed.aborted ? unavailable() : err;
    }
    // These faults strike after the work was done, like a crash or a broken proxy mid-response.
    if (fault === '500') {
      return sendJson(res, 500, errorBody(new ApiError(500, 'server_error', null, 'The server had an error while processing your request.')));
    }
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    const payload = JSON.stringify(inference.response);
    if (fault === 'malformed') return sendBody(res, 200, payload.slice(0, Math.floor(payload.length / 2)));
    sendBody(res, 200, payload);
    counters.completed += 1;
  }

  function rejectAtDoor(res: ServerResponse, fault: Extract<FaultKind, '429' | '400' | 'hang'>): void {
    if (fault === 'hang') return;
    if (fault === '400') return sendJson(res, 400, errorBody(new ApiError(400, 'invalid_request_error', null, 'Simulated invalid request.')));
    const error = new ApiError(429, 'rate_limit_error', 'rate_limit_exceeded', 'Rate limit reached (simulated).');
    sendJson(res, 429, errorBody(error), { 'retry-after': String(options.retryAfterSeconds) });
  }

  function schedulerGauges(kind: keyof typeof SCHEDULER_GAUGES): string {
    const names = SCHEDULER_GAUGES[kind];
    const labels = `{model_name="${options.models[0]}"}`;
    return [
      `# TYPE ${names.running} gauge`,
      `${names.running}${labels} ${slots.active}`,
      `# TYPE ${names.waiting} gauge`,
      `${names.waiting}${labels} ${slots.waiting}`,
      '',
    ].join('\n');
  }

  function serviceMs(inference: Inference): number {
    return options.baseLatencyMs + inference.promptTokens * options.msPerPromptToken + inference.outputTokens * options.msPerOutputToken;
  }

  const server = createServer((req, res) => {
    res.setHeader('x-request-id', requestId(req));
    route(req, res).catch((err: unknown) => {
      // A destroyed response means the client left (or close() ran): nobody to answer.
      if (res.destroyed || res.headersSent) return;
      if (err instanceof ApiError) return sendJson(res, err.status, errorBody(err));
      log.error({ err }, 'simulator request failed');
      sendJson(res, 500, errorBody(new ApiError(500, 'server_error', null, 'Internal simulator error.')));
    });
  });

  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  const close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Hung and keep-alive connections would otherwise hold close() open indefinitely.
      server.closeAllConnections();
    });
  await listen(port);
  const bound = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://${connectableHost(host)}:${bound}/v1`,
    port: bound,
    stats,
    setAvailable: (value) => {
      available = value;
    },
    get downMode() {
      return downMode;
    },
    down: async (mode) => {
      if (downMode !== null) return;
      downMode = mode;
      failure.abort();
      if (mode === 'crash') await close();
    },
    up: async () => {
      if (downMode === null) return;
      if (downMode === 'crash') await listen(bound);
      failure = new AbortController();
      downMode = null;
    },
    close: async () => {
      if (downMode !== 'crash') await close();
    },
  };
}

export type FleetStats = {
  gpus: Array<{ gpu: number; baseUrl: string; down: DownMode | null; stats: SimulatorStats }>;
  /** The fleet's sums; `peakInService` is the sum of each GPU's peak. */
  total: Omit<SimulatorStats, 'faults'> & { gpusUp: number };
};

export type RunningFleet = {
  gpus: readonly RunningSimulator[];
  stats(): FleetStats;
  close(): Promise<void>;
};

/**
 * `gpus` simulated GPUs in one process, each a server of its own (as many vLLM servers: its own
 * capacity, queue, `/metrics` and `/sim/stats`) on `port` + n, or on any free ports when `port` is 0.
 * Every GPU's port also answers the fleet's routes: `GET /sim/fleet` (every GPU's stats and the
 * totals), `POST /sim/gpus/<n>/down?mode=crash|503` and `POST /sim/gpus/<n>/up` (n from 0).
 */
export async function startSimulatorFleet(options: SimulatorOptions, gpus: number, port = 0, host = '127.0.0.1'): Promise<RunningFleet> {
  const running: RunningSimulator[] = [];
  const stats = (): FleetStats => {
    const each = running.map((gpu, i) => ({ gpu: i, baseUrl: gpu.baseUrl, down: gpu.downMode, stats: gpu.stats() }));
    const sum = (field: 'requests' | 'completed' | 'inService' | 'queued' | 'peakInService') => each.reduce((total, g) => total + g.stats[field], 0);
    const arrivals = each.map((g) => g.stats.lastArrivalAt).filter((at): at is number => at !== null);
    const firstArrivals = each.map((g) => g.stats.firstArrivalAt).filter((at): at is number => at !== null);
    return {
      gpus: each,
      total: {
        requests: sum('requests'),
        completed: sum('completed'),
        inService: sum('inService'),
        queued: sum('queued'),
        peakInService: sum('peakInService'),
        firstArrivalAt: firstArrivals.length > 0 ? Math.min(...firstArrivals) : null,
        lastArrivalAt: arrivals.length > 0 ? Math.max(...arrivals) : null,
        gpusUp: each.filter((g) => g.down === null).length,
      },
    };
  };
  const fleetRoutes: FleetRoutes = async (endpoint, query, res) => {
    if (endpoint === 'GET /sim/fleet') {
      sendJson(res, 200, stats());
      return true;
    }
    const control = /^POST \/sim\/gpus\/(\d+)\/(down|up)$/.exec(endpoint);
    if (!control) return false;
    const gpu = running[Number(control[1])];
    if (!gpu) throw new ApiError(404, 'invalid_request_error', null, `No GPU ${control[1]} (0–${running.length - 1}).`);
    const mode = query.get('mode') ?? 'crash';
    if (!(DOWN_MODES as readonly string[]).includes(mode))
      throw new ApiError(400, 'invalid_request_error', null, `mode must be one of ${DOWN_MODES.join(', ')}.`, 'mode');
    await (control[2] === 'down' ? gpu.down(mode as DownMode) : gpu.up());
    sendJson(res, 200, { gpu: Number(control[1]), down: gpu.downMode });
    return true;
  };
  try {
    for (let i = 0; i < gpus; i++) {
      // Each GPU draws its own faults: the same seed would fail the same requests on every GPU.
      running.push(await startGpu({ ...options, seed: options.seed + i }, port === 0 ? 0 : port + i, host, fleetRoutes));
    }
  } catch (err) {
    await Promise.all(running.map((gpu) => gpu.close()));
    throw err;
  }
  return { gpus: running, stats, close: async () => void (await Promise.all(running.map((gpu) => gpu.close()))) };
}

/** A wildcard listen address is not somewhere a client can connect to; loopback is. */
function connectableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
