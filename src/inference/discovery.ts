import { BATCH_ENDPOINTS, type BatchEndpoint } from '../domain/endpoints';
import { parseSchedulerGauges, type SchedulerGauges } from './gauges';
import { authorizationHeader, type BackendTarget } from './target';

/** Asks an OpenAI-compatible server which models it serves (`GET /v1/models`); it is also the health probe. */
export async function discoverModels(target: BackendTarget, signal: AbortSignal): Promise<string[]> {
  const response = await fetch(`${target.baseUrl}/models`, { headers: authorizationHeader(target), signal });
  if (!response.ok) throw new Error(`GET ${target.label}/models answered ${response.status}`);
  const list = (await response.json()) as { data?: Array<{ id?: unknown }> };
  return (list.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
}

/**
 * Which batch endpoints a server serves, from the OpenAPI document it publishes at its root
 * (`/openapi.json`, FastAPI's default, which vLLM keeps unless started with `--disable-fastapi-docs`).
 * vLLM registers only the routes of its model's kind — chat, completions and responses for a
 * generation model; embeddings, or score and rerank, for a pooling one — and `/v1/models` does not
 * say which kind it runs, so the route list is the one place a server tells. `null` when the server
 * publishes no such document (any refusal, or not an OpenAPI document): the caller decides what to assume.
 */
export async function discoverEndpoints(target: BackendTarget, signal: AbortSignal): Promise<BatchEndpoint[] | null> {
  const response = await fetch(new URL('/openapi.json', target.baseUrl), { headers: authorizationHeader(target), signal });
  // Any refusal (404, or a proxy's 401 on paths outside /v1) is "no document", never a failed probe:
  // a server that lists its models is in rotation whatever its root answers.
  if (!response.ok) {
    await response.body?.cancel();
    return null;
  }
  const document = (await response.json().catch(() => null)) as { paths?: Record<string, { post?: unknown }> } | null;
  const paths = document?.paths;
  if (typeof paths !== 'object' || paths === null) return null;
  return BATCH_ENDPOINTS.filter((endpoint) => paths[endpoint]?.post !== undefined);
}

/**
 * A server's scheduler gauges (vLLM's, SGLang's or TGI's) from its Prometheus endpoint, served at the
 * server root (`/metrics`, not under `/v1`). `null` when the server has no such endpoint or exports
 * none of them (a proxy, llama.cpp, metrics turned off).
 */
export async function readSchedulerGauges(target: BackendTarget, signal: AbortSignal): Promise<SchedulerGauges | null> {
  const response = await fetch(new URL('/metrics', target.baseUrl), { headers: authorizationHeader(target), signal });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return parseSchedulerGauges(await response.text()) ?? null;
}
