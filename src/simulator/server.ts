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
  /** When the latest inference request arrived (epoch ms), null before the first. */
  lastArrivalAt: number | null;
  completed: number;
  inService: number;
  queued: number;
  peakInService: number;
  faults: Record<string, number>;
};

export type RunningSimulator = {
  /** OpenAI-style base URL ending in /v1, e.g. http://127.0.0.1:PORT/v1. */
  baseUrl: string;
  port: number;
  stats(): SimulatorStats;
  /** While false, every route answers 503, as a server that is up but cannot serve (draining, reloading). */
  setAvailable(available: boolean): void;
  close: () => Promise<void>;
};

const INFERENCE_ROUTES: Record<BatchEndpoint, (body: unknown) => Inference> = {
  '/v1/chat/completions': chatCompletion,
  '/v1/completions': completion,
  '/v1/responses': responses,
  '/v1/embeddings': embeddings,
  '/v1/score': score,
  '/v1/rerank': rerank,
};

export async function startSimulator(options: SimulatorOptions, port = 0, host = '127.0.0.1'): Promise<RunningSimulator> {
  const log = logger.child({ component: 'simulator' });
  // At most `capacity` requests in service, the rest queued in arrival order: continuous batching
  // with a maximum batch size, which is what clients of vLLM experience.
  const slots = new Semaphore(options.capacity);
  let peakInService = 0;
  const faults = new FaultInjector(options.faults, options.seed);
  const counters = { requests: 0, completed: 0, lastArrivalAt: null as number | null };
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

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const endpoint = `${req.method} ${path}`;
    if (endpoint === 'GET /sim/stats') return sendJson(res, 200, stats());
    if (!available) throw new ApiError(503, 'server_error', null, 'Service unavailable (simulated).');
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
    await slots.acquire(clientGone.signal);
    peakInService = Math.max(peakInService, slots.active);
    try {
      await sleep(serviceMs(inference), undefined, { signal: clientGone.signal });
    } finally {
      slots.release();
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

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;

  return {
    baseUrl: `http://${connectableHost(host)}:${bound}/v1`,
    port: bound,
    stats,
    setAvailable: (value) => {
      available = value;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Hung and keep-alive connections would otherwise hold close() open indefinitely.
        server.closeAllConnections();
      }),
  };
}

/** A wildcard listen address is not somewhere a client can connect to; loopback is. */
function connectableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
