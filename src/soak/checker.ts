import readline from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { TenantClient } from './client';
import { customIdsOf, type Ledger, type TrackedBatch } from './ledger';
import type { SoakReport } from './report';
import type { WebhookReceiver } from './webhookReceiver';

type Counts = SoakReport['invariants'] & { succeeded: number; failedAsAsked: number; expiredOrCancelled: number; total: number };
type ResultLine = { custom_id: string; response: { status_code: number } | null; error: { code: string | null } | null };

/** Never-executed lines carry these codes, and only in a batch that ended so. */
const UNEXECUTED_CODE: Readonly<Record<string, string>> = { expired: 'batch_expired', cancelled: 'batch_cancelled' };
/** How many queued requests are also read one by one through GET /v1/requests/{id}. */
const QUEUED_SAMPLE = 50;

/**
 * The checker of a soak, run once every batch has ended: it reads every result file through the
 * API and holds each batch and each queued request against what the workload asked for (the ledger).
 * Every broken invariant becomes a violation naming its record; the counts go in the report.
 */
export async function checkInvariants(ledger: Ledger, tenants: readonly TenantClient[], receiver: WebhookReceiver): Promise<Counts & { queueBatches: string[] }> {
  const counts: Counts = {
    lost: 0,
    doubled: 0,
    wronglyFailed: 0,
    nonFinal: 0,
    wrongStatus: 0,
    webhooksMissing: 0,
    webhookDuplicates: receiver.duplicates(),
    idempotencyMismatches: ledger.violations.filter((v) => v.invariant.startsWith('idempotent')).length,
    queuedLost: 0,
    queuedDoubled: 0,
    succeeded: 0,
    failedAsAsked: 0,
    expiredOrCancelled: 0,
    total: 0,
  };
  const clientOf = (tenant: string) => tenants.find((c) => c.tenant === tenant)!;

  for (const batch of ledger.batches.values()) {
    counts.total += batch.lines;
    if (!batch.final) {
      counts.nonFinal += 1;
      ledger.violation('every batch ends', batch.id, `still not final (${batch.lines} lines)`);
      continue;
    }
    const allowed = allowedStatuses(batch);
    if (!allowed.includes(batch.final.status)) {
      if (batch.final.status === 'failed') counts.wronglyFailed += 1;
      else counts.wrongStatus += 1;
      ledger.violation('every batch ends in the status its history implies', batch.id, `${batch.final.status}, expected ${allowed.join(' or ')}`);
    }
    if (batch.webhook && !receiver.saw(batch.id, `batch.${batch.final.status}`)) {
      counts.webhooksMissing += 1;
      ledger.violation('every subscribed webhook is delivered', batch.id, `no acknowledged batch.${batch.final.status}`);
    }
    if (!batch.final.started) {
      // Failed validation, or cancelled while validating: no line was accepted, so none is accounted
      // for (as OpenAI does) and the batch has no result file.
      if (batch.final.outputFileId || batch.final.errorFileId) ledger.violation('a batch that never started has no result file', batch.id, batch.final.status);
      if (batch.final.status === 'cancelled') counts.expiredOrCancelled += batch.lines;
      continue;
    }
    const seen = await readResultLines(clientOf(batch.tenant), batch.final);
    checkLines(batch, seen, counts, ledger);
  }

  // Batches the workload did not create are its queues' batches: each acknowledged request in exactly one.
  const queueBatches: string[] = [];
  const occurrences = new Map<string, number>();
  for (const client of tenants) {
    for await (const object of client.openai.batches.list({ limit: 100 })) {
      if (ledger.batches.has(object.id)) continue;
      queueBatches.push(object.id);
      if (object.status !== 'completed') {
        counts.wrongStatus += 1;
        ledger.violation('a queue batch completes', object.id, `status ${object.status}`);
      }
      const lines = await readResultLines(client, { outputFileId: object.output_file_id ?? null, errorFileId: object.error_file_id ?? null });
      for (const [customId, results] of lines) {
        occurrences.set(customId, (occurrences.get(customId) ?? 0) + results.length);
        counts.total += results.length;
        for (const result of results) {
          if (result.response?.status_code === 200) counts.succeeded += 1;
          else {
            counts.wronglyFailed += 1;
            ledger.violation('no queued request fails', customId, `in ${object.id}: ${JSON.stringify(result.error ?? result.response)}`);
          }
        }
      }
    }
  }
  for (const [customId, { requestId }] of ledger.queued) {
    const n = occurrences.get(customId) ?? 0;
    if (n === 0) {
      counts.queuedLost += 1;
      ledger.violation('every queued request completes exactly once', customId, `${requestId} is in no batch`);
    } else if (n > 1) {
      counts.queuedDoubled += 1;
      ledger.violation('every queued request completes exactly once', customId, `${requestId} is in ${n} result lines`);
    }
  }
  for (const [customId, n] of occurrences) {
    if (ledger.queued.has(customId)) continue;
    if (!ledger.queuedAmbiguous.has(customId) || n > 1) {
      counts.queuedDoubled += 1;
      ledger.violation('queue batches hold only requests that were queued, once', customId, `${n} result lines`);
    }
  }
  await checkQueuedSample(ledger, clientOf);
  return { ...counts, queueBatches };
}

/** What a batch may end as, given what was done to it. */
export function allowedStatuses(batch: TrackedBatch): string[] {
  if (batch.invalid) return ['failed'];
  const allowed = batch.cancel === 'accepted' ? ['cancelled'] : ['completed'];
  if (batch.cancel === 'unknown') allowed.push('cancelled');
  if (batch.shortWindow) allowed.push('expired');
  return allowed;
}

/** Each expected custom_id exactly once; an error line only for a line asked to fail, or as the batch's own end. */
function checkLines(batch: TrackedBatch, seen: Map<string, ResultLine[]>, counts: Counts, ledger: Ledger): void {
  const expected = customIdsOf(batch);
  const final = batch.final!;
  for (const customId of expected) {
    const results = seen.get(customId) ?? [];
    if (results.length === 0) {
      counts.lost += 1;
      ledger.violation('every custom_id exactly once in output ∪ error', batch.id, `${customId} missing`);
      continue;
    }
    if (results.length > 1) {
      counts.doubled += 1;
      ledger.violation('every custom_id exactly once in output ∪ error', batch.id, `${customId} ${results.length} times`);
    }
    const result = results[0]!;
    const asked = batch.askedToFail.has(customId);
    if (result.response?.status_code === 200 && !asked) counts.succeeded += 1;
    else if (result.response?.status_code === 400 && asked) counts.failedAsAsked += 1;
    else if (result.error?.code !== undefined && result.error.code === UNEXECUTED_CODE[final.status]) counts.expiredOrCancelled += 1;
    else {
      counts.wronglyFailed += 1;
      ledger.violation('no line fails but by its own error or the batch ending', batch.id, `${customId}: ${JSON.stringify(result.error ?? result.response)}`);
    }
  }
  const expectedSet = new Set(expected);
  for (const customId of seen.keys()) {
    if (!expectedSet.has(customId)) {
      counts.doubled += 1;
      ledger.violation('result files hold only the batch’s own lines', batch.id, `${customId} is not one of its lines`);
    }
  }
}

/** A sample of queued requests read one by one: each completed, in a batch. */
async function checkQueuedSample(ledger: Ledger, clientOf: (tenant: string) => TenantClient): Promise<void> {
  const entries = [...ledger.queued.entries()];
  const step = Math.max(1, Math.floor(entries.length / QUEUED_SAMPLE));
  for (let i = 0; i < entries.length; i += step) {
    const [customId, { tenant, requestId }] = entries[i]!;
    const request = await clientOf(tenant).json<{ status: string; batch_id: string | null }>('GET', `/requests/${requestId}`, { idempotent: true });
    if (request.status !== 'completed' || !request.batch_id)
      ledger.violation('a queued request reads as completed in its batch', customId, `${requestId}: ${request.status}, batch ${request.batch_id}`);
  }
}

/** Every line of a batch's output and error files, by custom_id, streamed (a file may hold 50,000 lines). */
async function readResultLines(client: TenantClient, files: { outputFileId: string | null; errorFileId: string | null }): Promise<Map<string, ResultLine[]>> {
  const byId = new Map<string, ResultLine[]>();
  for (const fileId of [files.outputFileId, files.errorFileId]) {
    if (!fileId) continue;
    const response = await client.openai.files.content(fileId);
    const lines = readline.createInterface({ input: Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), crlfDelay: Infinity });
    for await (const text of lines) {
      if (text.trim() === '') continue;
      const line = JSON.parse(text) as ResultLine;
      const list = byId.get(line.custom_id);
      if (list) list.push(line);
      else byId.set(line.custom_id, [line]);
    }
  }
  return byId;
}
