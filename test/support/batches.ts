import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { TERMINAL_STATUSES } from '../../src/states/batch';
import { waitFor } from './wait';

/** As strings: the SDK types a Batch's status as its own union. */
export const TERMINAL: readonly string[] = TERMINAL_STATUSES;

export function chatLine(customId: string, model: string, content: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content }], max_tokens: 16, ...extra },
  });
}

export async function uploadJsonl(client: OpenAI, lines: string[], filename = 'input.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), filename), purpose: 'batch' });
}

/** Polls the batch until `until` holds; a failed poll (a dependency restarting under the test) is retried. */
export async function waitForBatch(client: OpenAI, batchId: string, until: (b: Batch) => boolean, timeoutMs = 120_000): Promise<Batch> {
  return waitFor(
    async () => {
      const batch = await client.batches.retrieve(batchId).catch(() => undefined);
      return batch && until(batch) ? batch : undefined;
    },
    { timeoutMs, intervalMs: 250, what: `batch ${batchId}` },
  );
}

export type ResultLine = {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: any } | null;
  error: { code: string; message: string } | null;
};

export async function readJsonl(client: OpenAI, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as ResultLine);
}

/** Invariant 1 (docs/architecture.md): every input custom_id exactly once across output ∪ error file. */
export function expectEachCustomIdOnce(customIds: string[], output: ResultLine[], errors: ResultLine[]): void {
  const seen = new Map<string, number>();
  for (const line of [...output, ...errors]) seen.set(line.custom_id, (seen.get(line.custom_id) ?? 0) + 1);
  const missing = customIds.filter((id) => !seen.has(id));
  const doubled = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const unknown = [...seen.keys()].filter((id) => !customIds.includes(id));
  expect({ missing, doubled, unknown }).toEqual({ missing: [], doubled: [], unknown: [] });
  expect(output.length + errors.length).toBe(customIds.length);
}
