import { withTransaction, type Db, type DbClient } from '../db/pool';
import { FileContentWriter } from '../files/content';
import { newFileId } from '../ids';
import { completeFile, deleteFile, insertFile } from '../store/files';
import { findBatch, transitionBatch, type BatchRow } from '../store/batches';
import { readRequestsWithResults } from '../store/requests';
import { outputLine, type NeverExecutedCode } from './outputLines';

export type TerminalOutcome = 'completed' | 'expired' | 'cancelled';

const NEVER_EXECUTED: Record<TerminalOutcome, NeverExecutedCode> = {
  completed: 'batch_failed', // unreachable in practice: a completed batch executed every request
  expired: 'batch_expired',
  cancelled: 'batch_cancelled',
};
const PAGE = 1000;

/**
 * Writes the output and error files in input order and moves the batch to its terminal status, all
 * in one transaction: a crash mid-way leaves no half file, and a retry starts over cleanly.
 * Idempotent: a batch already in `outcome` is returned as is.
 */
export async function finalizeBatch(db: Db, batchId: string, outcome: TerminalOutcome): Promise<BatchRow> {
  if (outcome === 'completed') await transitionBatch(db, batchId, 'finalizing');
  return withTransaction(db, async (client) => {
    const batch = await findBatch(client, batchId);
    if (!batch) throw new Error(`batch ${batchId} does not exist`);
    if (batch.status === outcome) return batch;

    const output = await openResultFile(client, batch, 'output');
    const errors = await openResultFile(client, batch, 'error');
    for (let after = 0; ; ) {
      const rows = await readRequestsWithResults(client, batchId, after, PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        const { file, line } = outputLine(batchId, row, NEVER_EXECUTED[outcome]);
        await (file === 'output' ? output : errors).write(line);
      }
      after = rows[rows.length - 1]!.line_no;
    }
    const finished = await transitionBatch(client, batchId, outcome, {
      output_file_id: await closeResultFile(client, output),
      error_file_id: await closeResultFile(client, errors),
    });
    if (!finished) throw new Error(`batch ${batchId} cannot move from ${batch.status} to ${outcome}`);
    return finished;
  });
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
