import { withTransaction, type Db, type DbClient } from '../db/pool';
import { hasRun, isTerminal, type FinalizeOutcome } from '../states/batch';
import { lockBatch, sealBatch, type BatchRow } from '../store/batches';
import { moveBatch } from '../batches/transition';
import { listUnwrittenChunks, sumChunkFiles } from '../store/chunkFiles';
import { completeFile, deleteFile } from '../store/files';
import { discardUnstartedBatch } from '../store/requests';
import { neverExecutedCode } from '../batches/outputLines';
import { resultFilesOf, writeChunkLines } from './resultFiles';

/**
 * Ends a batch that was accepted: seals it (no result is stored after that, and its end is fixed),
 * writes the lines of the chunks that did not write their own (stopped, or their write failed), one
 * transaction per chunk, then makes the output and error files visible and moves the batch to its
 * terminal status in one short transaction. A retry after a crash resumes with the chunks still
 * missing; no long transaction holds the batch row. A batch the user is cancelling ends `cancelled`
 * whatever the workflow was finishing for. Idempotent: a batch already terminal is returned as is.
 */
export async function finalizeBatch(db: Db, batchId: string, requested: FinalizeOutcome, onChunk: (chunksWritten: number) => void = () => undefined): Promise<BatchRow> {
  if (requested === 'completed') await moveBatch(db, batchId, 'finalizing');
  const sealed = await withTransaction(db, (client) => seal(client, batchId, requested));
  if (isTerminal(sealed.status)) {
    // Cancelled while validating, by the API: what its first chunks stored meanwhile goes.
    if (!hasRun(sealed)) await discardUnstartedBatch(db, batchId);
    return sealed;
  }
  const outcome = sealed.final_status!;

  const files = await resultFilesOf(db, batchId, { whileRunning: false });
  if (files) {
    const unwritten = await listUnwrittenChunks(db, batchId, sealed.chunk_count ?? 0);
    for (const [i, chunkNo] of unwritten.entries()) {
      await writeChunkLines(db, batchId, chunkNo, files, neverExecutedCode(outcome));
      onChunk(i + 1);
    }
  }

  return withTransaction(db, async (client) => {
    const batch = (await lockBatch(client, batchId))!;
    if (isTerminal(batch.status)) return batch;
    const written = await sumChunkFiles(client, batchId);
    if (written.chunks !== (batch.chunk_count ?? 0)) throw new Error(`batch ${batchId}: ${written.chunks} of ${batch.chunk_count} chunks written`);
    const finished = await moveBatch(client, batchId, outcome, {
      output_file_id: await closeResultFile(client, batch, batch.output_file_id, written.outputBytes),
      error_file_id: await closeResultFile(client, batch, batch.error_file_id, written.errorBytes),
      // Requests stopped before running fail too, so completed + failed always adds up to total.
      failed_requests: batch.failed_requests + written.unexecuted,
    });
    if (!finished) throw new Error(`batch ${batchId} cannot move from ${batch.status} to ${outcome}`);
    return finished;
  });
}

/**
 * Fixes the batch's end under its row lock: the end already fixed by an earlier attempt, else
 * `cancelled` for a batch the user is cancelling, else the one requested. A batch still validating
 * ends at once; one cancelled straight from in_progress (a cancel signal sent from the Temporal UI)
 * still passes through cancelling.
 */
async function seal(client: DbClient, batchId: string, requested: FinalizeOutcome): Promise<BatchRow> {
  const batch = await lockBatch(client, batchId);
  if (!batch) throw new Error(`batch ${batchId} does not exist`);
  if (isTerminal(batch.status)) return batch;
  const outcome: FinalizeOutcome = batch.final_status ?? (batch.status === 'cancelling' ? 'cancelled' : requested);
  if (batch.status === 'validating') return stopBeforeRunning(client, batch, outcome);
  if (outcome === 'cancelled' && batch.status === 'in_progress') await moveBatch(client, batchId, 'cancelling');
  return (await sealBatch(client, batchId, outcome))!;
}

/** Stopped before validation finished: no request was accepted, so there is nothing to account for. */
async function stopBeforeRunning(client: DbClient, batch: BatchRow, outcome: FinalizeOutcome): Promise<BatchRow> {
  if (!(await moveBatch(client, batch.id, outcome))) throw new Error(`batch ${batch.id} cannot move from validating to ${outcome}`);
  await discardUnstartedBatch(client, batch.id);
  // As it now is: the counters its first chunks had bumped are back at zero.
  return (await lockBatch(client, batch.id))!;
}

/** Keeps a file only if it has content, as OpenAI leaves output_file_id or error_file_id null otherwise. */
async function closeResultFile(client: DbClient, batch: BatchRow, fileId: string | null, bytes: number): Promise<string | null> {
  if (fileId === null) return null;
  if (bytes === 0) {
    await deleteFile(client, fileId);
    return null;
  }
  await completeFile(client, fileId, bytes, 'batch_output', batch.output_expires_after_seconds);
  return fileId;
}
