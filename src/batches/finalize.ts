import { withTransaction, type Db, type DbClient } from '../db/pool';
import { FileContentWriter } from '../files/content';
import { newFileId } from '../ids';
import { completeFile, deleteFile, insertFile } from '../store/files';
import { isTerminal, type FinalizeOutcome } from '../states/batch';
import { lockBatch, transitionBatch, type BatchRow } from '../store/batches';
import { deletePlannedRequests, lastPlannedLineNo, readRequestsWithResults } from '../store/requests';
import { outputLine, type NeverExecutedCode } from './outputLines';

const NEVER_EXECUTED: Record<FinalizeOutcome, NeverExecutedCode> = {
  completed: 'batch_failed', // unreachable in practice: a completed batch executed every request
  expired: 'batch_expired',
  cancelled: 'batch_cancelled',
  failed: 'batch_failed',
};
const PAGE = 1000;

/**
 * Writes the output and error files in input order and moves the batch to its terminal status, all
 * in one transaction: a crash mid-way leaves no half file, and a retry starts over cleanly. The batch
 * row stays locked throughout, so a straggling chunk cannot add a result the files would miss.
 * A batch the user is cancelling ends `cancelled` whatever the workflow was finishing for.
 * Idempotent: a batch already terminal is returned as is.
 */
export async function finalizeBatch(db: Db, batchId: string, requested: FinalizeOutcome, onPage: (linesWritten: number) => void = () => undefined): Promise<BatchRow> {
  if (requested === 'completed') await transitionBatch(db, batchId, 'finalizing');
  return withTransaction(db, async (client) => {
    const batch = await lockBatch(client, batchId);
    if (!batch) throw new Error(`batch ${batchId} does not exist`);
    if (isTerminal(batch.status)) return batch;
    const outcome: FinalizeOutcome = batch.status === 'cancelling' ? 'cancelled' : requested;
    if (batch.status === 'validating') return stopBeforeRunning(client, batch, outcome);
    // A cancel signal sent straight to the workflow (e.g. from the Temporal UI) still passes through cancelling.
    if (outcome === 'cancelled' && batch.status === 'in_progress') await transitionBatch(client, batchId, 'cancelling');

    const output = await openResultFile(client, batch, 'output');
    const errors = await openResultFile(client, batch, 'error');
    let neverExecuted = 0;
    const lastLine = await lastPlannedLineNo(client, batchId);
    const readPage = (after: number) => {
      const page = readRequestsWithResults(client, batchId, after, Math.min(after + PAGE, lastLine));
      // Awaited in the next turn of the loop; if a write fails first, its failure is the one reported.
      page.catch(() => undefined);
      return page;
    };
    let nextPage = readPage(0);
    let storing: Promise<unknown> = Promise.resolve();
    for (let after = 0; after < lastLine; after += PAGE) {
      const rows = await nextPage;
      // Sent now, the next page is read by PostgreSQL while this one is formatted in here.
      if (after + PAGE < lastLine) nextPage = readPage(after + PAGE);
      const page = { output: '', error: '' };
      for (const row of rows) {
        const { file, line } = outputLine(batchId, row, NEVER_EXECUTED[outcome]);
        page[file] += line;
        if (row.request_id === null) neverExecuted++;
      }
      // The previous page's parts are stored while this one was formatted; a writer takes new bytes
      // only between its stores.
      await storing;
      output.buffer(page.output);
      errors.buffer(page.error);
      storing = Promise.all([output.flushFullParts(), errors.flushFullParts()]);
      storing.catch(() => undefined);
      onPage(Math.min(after + PAGE, lastLine));
    }
    await storing;
    const finished = await transitionBatch(client, batchId, outcome, {
      output_file_id: await closeResultFile(client, output),
      error_file_id: await closeResultFile(client, errors),
      // Requests stopped before running fail too, so completed + failed always adds up to total.
      failed_requests: batch.failed_requests + neverExecuted,
    });
    if (!finished) throw new Error(`batch ${batchId} cannot move from ${batch.status} to ${outcome}`);
    return finished;
  });
}

/** Stopped before validation finished: no request was accepted, so there is nothing to account for. */
async function stopBeforeRunning(client: DbClient, batch: BatchRow, outcome: FinalizeOutcome): Promise<BatchRow> {
  const stopped = await transitionBatch(client, batch.id, outcome);
  if (!stopped) throw new Error(`batch ${batch.id} cannot move from validating to ${outcome}`);
  await deletePlannedRequests(client, batch.id);
  return stopped;
}

async function openResultFile(client: DbClient, batch: BatchRow, kind: 'output' | 'error'): Promise<FileContentWriter> {
  const id = newFileId();
  await insertFile(client, { id, tenantId: batch.tenant_id, purpose: 'batch_output', filename: `${batch.id}_${kind}.jsonl` });
  return new FileContentWriter(client, id);
}

/** Keeps a file only if it has content, as OpenAI leaves output_file_id or error_file_id null otherwise. */
async function closeResultFile(client: DbClient, writer: FileContentWriter): Promise<string | null> {
  const bytes = await writer.end();
  if (bytes === 0) {
    await deleteFile(client, writer.fileId);
    return null;
  }
  await completeFile(client, writer.fileId, bytes, 'batch_output');
  return writer.fileId;
}
