/** Asks an OpenAI-compatible server which models it serves (`GET /v1/models`). */
export async function discoverModels(baseUrl: string, apiKey: string | undefined, timeoutMs = 10_000): Promise<string[]> {
  const response = await fetch(`${baseUrl.replace(/\/+$/, '')}/models`, {
    headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw new Error(`GET ${baseUrl}/models answered ${response.status}`);
  const list = (await response.json()) as { data?: Array<{ id?: unknown }> };
  return (list.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
}
