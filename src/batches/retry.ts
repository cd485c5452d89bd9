import type { Db } from '../db/pool';
import { readFileContent, FileContentWriter } from '../files/content';
import { splitLines } from '../files/lines';
import { newFileId } from '../ids';
import type { IdempotentRequest } from '../idempotency/claim';
import { isTerminal } from '../states/batch';
import { findBatch, type BatchRow } from '../store/batches';
import { completeFile, deleteFile, findFile, insertFile } from '../store/files';
import { MAX_LINE_BYTES } from './lineValidation';
import { createBatch, type CreateBatchDeps, type CreateBatchOutcome } from './create';

export type RetryBatchRequest = {
  /** Only the failed lines with these codes: an error's `code`, or `http_<status>` for a non-2xx response. All when unset. */
  codes?: string[];
};

export type RetryBatchOutcome =
  | Extract<CreateBatchOutcome, { kind: 'created' | 'idempotency_key_reused' }>
  | { kind: 'not_found' }
  | { kind: 'not_finished'; status: BatchRow['status'] }
  | { kind: 'nothing_to_retry'; message: string }
  | { kind: 'files_gone'; message: string };

/**
 * Creates a batch of exactly the failed lines of a finished batch (those whose code is in `codes`,
 * if given): the same custom_ids and bodies, read from the batch's input file, the same endpoint,
 * model, completion window and metadata, linked to it by `retry_of`. The failed lines are read from
 * the batch's error file, which lists them in input order, so one pass over both files finds them
 * with memory bounded by a line, whatever the batch's size; it needs both files to still exist.
 */
export async function retryBatch(
  deps: CreateBatchDeps,
  tenantId: string,
  batchId: string,
  request: RetryBatchRequest,
  options: { idempotency?: IdempotentRequest } = {},
): Promise<RetryBatchOutcome> {
  const parent = await findBatch(deps.db, tenantId, batchId);
  if (!parent) return { kind: 'not_found' };
  if (!isTerminal(parent.status)) return { kind: 'not_finished', status: parent.status };
  if (parent.error_file_id === null) return { kind: 'nothing_to_retry', message: `Batch '${batchId}' has no failed lines.` };
  const [input, errors] = await Promise.all([findFile(deps.db, tenantId, parent.input_file_id), findFile(deps.db, tenantId, parent.error_file_id)]);
  if (!input || !errors) {
    const gone = !input ? `input file '${parent.input_file_id}'` : `error file '${parent.error_file_id}'`;
    return { kind: 'files_gone', message: `Batch '${batchId}' cannot be retried: its ${gone} was deleted or has expired.` };
  }

  const fileId = await writeFailedLines(deps.db, {
    tenantId,
    fileId: newFileId(),
    filename: `${batchId}_retry.jsonl`,
    inputFileId: input.id,
    errorFileId: errors.id,
    codes: request.codes,
  });
  if (fileId === undefined) {
    return { kind: 'nothing_to_retry', message: `Batch '${batchId}' has no failed lines with code ${request.codes!.map((c) => `'${c}'`).join(' or ')}.` };
  }
  const outcome = await createBatch(
    deps,
    tenantId,
    {
      input_file_id: fileId,
      endpoint: parent.endpoint,
      completion_window: parent.completion_window,
      metadata: parent.metadata,
      model: parent.model ?? undefined,
      output_expires_after: parent.output_expires_after_seconds === null ? undefined : { anchor: 'created_at', seconds: parent.output_expires_after_seconds },
    },
    { idempotency: options.idempotency, retryOf: parent.id },
  );
  // A replayed retry answers with the first one's batch: this call's copy of the lines is not needed.
  if (outcome.kind !== 'created' || outcome.replayed) await deleteFile(deps.db, fileId);
  if (outcome.kind === 'invalid_input_file' || outcome.kind === 'invalid_webhook_url') throw new Error(`retry of ${batchId}: ${outcome.message}`);
  return outcome;
}

/**
 * Writes the input lines whose custom_id the error file lists (with a selected code) into a new
 * batch input file, in input order; undefined (and no file) when none is selected.
 */
async function writeFailedLines(
  db: Db,
  args: { tenantId: string; fileId: string; filename: string; inputFileId: string; errorFileId: string; codes: string[] | undefined },
): Promise<string | undefined> {
  const selected = failedCustomIds(db, args.errorFileId, args.codes && new Set(args.codes));
  let next = await selected.next();
  if (next.done) return undefined;
  await insertFile(db, { id: args.fileId, tenantId: args.tenantId, purpose: 'batch', filename: args.filename });
  try {
    const writer = new FileContentWriter(db, args.fileId);
    for await (const lines of splitLines(readFileContent(db, args.inputFileId), MAX_LINE_BYTES)) {
      for (const line of lines) {
        if (next.done) break;
        // Every line of a batch that ran is valid JSON with a unique custom_id: validation saw to it.
        if (!('bytes' in line) || customIdOf(line.bytes) !== next.value) continue;
        writer.buffer(Buffer.concat([line.bytes, NEWLINE]));
        next = await selected.next();
      }
      await writer.flushFullParts();
      if (next.done) break;
    }
    if (!next.done) throw new Error(`custom_id ${JSON.stringify(next.value)} of error file ${args.errorFileId} is not in input file ${args.inputFileId}`);
    await completeFile(db, args.fileId, await writer.end(), 'batch');
    return args.fileId;
  } catch (err) {
    await deleteFile(db, args.fileId).catch(() => undefined);
    throw err;
  }
}

const NEWLINE = Buffer.from('\n');

/** The custom_ids of the error file's lines, in its (the input's) order, keeping those with a selected code. */
async function* failedCustomIds(db: Db, errorFileId: string, codes: Set<string> | undefined): AsyncGenerator<string> {
  for await (const lines of splitLines(readFileContent(db, errorFileId), MAX_LINE_BYTES)) {
    for (const line of lines) {
      if (!('bytes' in line)) continue;
      const parsed = JSON.parse(line.bytes.toString('utf8')) as { custom_id: string; response: { status_code: number } | null; error: { code: string } | null };
      const code = parsed.error?.code ?? `http_${parsed.response?.status_code}`;
      if (!codes || codes.has(code)) yield parsed.custom_id;
    }
  }
}

const customIdOf = (bytes: Buffer) => (JSON.parse(bytes.toString('utf8')) as { custom_id: string }).custom_id;
