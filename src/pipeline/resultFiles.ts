import { withTransaction, type Db, type DbClient } from '../db/pool';
import { FileContentWriter } from '../files/content';
import { newFileId } from '../ids';
import { INITIAL_STATUS, isTerminal } from '../states/batch';
import { findBatchById, lockBatch, setResultFiles, type BatchRow } from '../store/batches';
import { claimChunkFiles, recordChunkFiles } from '../store/chunkFiles';
import { insertFile } from '../store/files';
import { countUnfinishedInChunk, readChunkWithResults } from '../store/requests';
import { outputLine, type NeverExecutedCode } from '../batches/outputLines';

/**
 * A batch's output and error files are written chunk by chunk: by each chunk as soon as all its
 * requests have results, and by finalize for the chunks left (stopped, or whose write failed). A
 * chunk's lines take part numbers from chunk_no × 2^32, so chunks written in any order read back in
 * input order, and finalize only has to complete the files, never rewrite them.
 */
const PARTS_PER_CHUNK = 2 ** 32;
/** Rows read and formatted at a time: a chunk of large responses (embeddings) is tens of MB. */
const PAGE = 100;

export type ResultFiles = { output: string; error: string };
export type ChunkFilesOutcome = 'written' | 'already_written' | 'unfinished' | 'validating' | 'ended';

/**
 * Writes the lines of a chunk whose requests all have a result, while the batch still runs. A
 * chunk with requests still unfinished, a batch still validating (a first chunk: the batch may yet
 * fail, and have no files), a batch finalize has sealed, or a chunk already written is left alone
 * (and said so): finalize writes whatever is missing.
 */
export async function writeFinishedChunk(db: Db, batchId: string, chunkNo: number): Promise<ChunkFilesOutcome> {
  if ((await countUnfinishedInChunk(db, batchId, chunkNo)) > 0) return 'unfinished';
  if ((await findBatchById(db, batchId))?.status === INITIAL_STATUS) return 'validating';
  const files = await resultFilesOf(db, batchId, { whileRunning: true });
  // Every request has its result, so no line is written as never executed: the code is never used.
  return files ? writeChunkLines(db, batchId, chunkNo, files, 'batch_failed') : 'ended';
}

/**
 * The batch's result files, created (`writing`, invisible) the first time they are needed. Undefined
 * when the batch has ended, or with `whileRunning` once finalize has sealed it.
 */
export async function resultFilesOf(db: Db, batchId: string, options: { whileRunning: boolean }): Promise<ResultFiles | undefined> {
  const ended = (batch: BatchRow) => isTerminal(batch.status) || (options.whileRunning && batch.final_status !== null);
  const existing = (batch: BatchRow) =>
    batch.output_file_id !== null && batch.error_file_id !== null ? { output: batch.output_file_id, error: batch.error_file_id } : undefined;
  const batch = await findBatchById(db, batchId);
  if (!batch) throw new Error(`batch ${batchId} does not exist`);
  if (ended(batch)) return undefined;
  // Created under the batch's row lock, so concurrent chunks agree on one pair of files.
  return (
    existing(batch) ??
    withTransaction(db, async (client) => {
      const locked = (await lockBatch(client, batchId))!;
      if (ended(locked)) return undefined;
      const current = existing(locked);
      if (current) return current;
      const files = { output: newFileId(), error: newFileId() };
      for (const kind of ['output', 'error'] as const) {
        await insertFile(client, { id: files[kind], tenantId: locked.tenant_id, purpose: 'batch_output', filename: `${batchId}_${kind}.jsonl`, status: 'writing' });
      }
      await setResultFiles(client, batchId, files);
      return files;
    })
  );
}

/**
 * One chunk's lines, in one transaction that also claims the chunk: written once, or not at all.
 * Requests without a result are written as never executed, with `neverExecuted`: finalize calls it
 * for the chunks left once the batch is sealed, when no result can arrive any more.
 */
export async function writeChunkLines(db: Db, batchId: string, chunkNo: number, files: ResultFiles, neverExecuted: NeverExecutedCode): Promise<ChunkFilesOutcome> {
  return withTransaction(db, async (client: DbClient) => {
    if (!(await claimChunkFiles(client, batchId, chunkNo))) return 'already_written';
    const firstPart = chunkNo * PARTS_PER_CHUNK;
    const writers = { output: new FileContentWriter(client, files.output, firstPart), error: new FileContentWriter(client, files.error, firstPart) };
    let unexecuted = 0;
    let rows = await readChunkWithResults(client, batchId, chunkNo, 0, PAGE);
    while (rows.length > 0) {
      for (const row of rows) {
        const { file, line } = outputLine(batchId, row, neverExecuted);
        writers[file].buffer(line);
        if (row.request_id === null) unexecuted++;
      }
      await writers.output.flushFullParts();
      await writers.error.flushFullParts();
      rows = rows.length < PAGE ? [] : await readChunkWithResults(client, batchId, chunkNo, rows.at(-1)!.line_no, PAGE);
    }
    await recordChunkFiles(client, batchId, chunkNo, { outputBytes: await writers.output.end(), errorBytes: await writers.error.end(), unexecuted });
    return 'written';
  });
}
