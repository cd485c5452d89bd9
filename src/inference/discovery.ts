import { parseSchedulerGauges, type SchedulerGauges } from './depth';

const authorization = (apiKey: string | undefined): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {});

/** Asks an OpenAI-compatible server which models it serves (`GET /v1/models`); it is also the health probe. */
export async function discoverModels(baseUrl: string, apiKey: string | undefined, signal: AbortSignal): Promise<string[]> {
  const response = await fetch(`${baseUrl}/models`, { headers: authorization(apiKey), signal });
  if (!response.ok) throw new Error(`GET ${baseUrl}/models answered ${response.status}`);
  const list = (await response.json()) as { data?: Array<{ id?: unknown }> };
  return (list.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
}

/**
 * vLLM's scheduler gauges from its Prometheus endpoint, served at the server root (`/metrics`, not
 * under `/v1`). `null` when the server has no such endpoint or exports no vLLM gauges (a proxy, another server).
 */
export async function readSchedulerGauges(baseUrl: string, apiKey: string | undefined, signal: AbortSignal): Promise<SchedulerGauges | null> {
  const response = await fetch(new URL('/metrics', baseUrl), { headers: authorization(apiKey), signal });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return parseSchedulerGauges(await response.text()) ?? null;
}
