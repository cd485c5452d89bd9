import type { Queryable } from '../db/pool';

/** What a chunk added to its batch's result files. */
export type ChunkFileSizes = { outputBytes: number; errorBytes: number; unexecuted: number };

/**
 * Claims the writing of a chunk's lines. True for exactly one writer: a concurrent claim of the same
 * chunk waits for this transaction and, once it commits, gets false (after a rollback, true).
 */
export async function claimChunkFiles(db: Queryable, batchId: string, chunkNo: number): Promise<boolean> {
  const { rowCount } = await db.query(`INSERT INTO batch_chunk_files (batch_id, chunk_no) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [batchId, chunkNo]);
  return rowCount === 1;
}

/** Records what the claimed chunk wrote, in the claiming transaction. */
export async function recordChunkFiles(db: Queryable, batchId: string, chunkNo: number, sizes: ChunkFileSizes): Promise<void> {
  await db.query(`UPDATE batch_chunk_files SET output_bytes = $3, error_bytes = $4, unexecuted = $5 WHERE batch_id = $1 AND chunk_no = $2`, [
    batchId,
    chunkNo,
    sizes.outputBytes,
    sizes.errorBytes,
    sizes.unexecuted,
  ]);
}

/** The chunks among 0 … chunkCount − 1 whose lines are not written yet, in order. */
export async function listUnwrittenChunks(db: Queryable, batchId: string, chunkCount: number): Promise<number[]> {
  const { rows } = await db.query<{ chunk_no: number }>(
    `SELECT n AS chunk_no FROM generate_series(0, $2::int - 1) n
     WHERE NOT EXISTS (SELECT 1 FROM batch_chunk_files c WHERE c.batch_id = $1 AND c.chunk_no = n)
     ORDER BY n`,
    [batchId, chunkCount],
  );
  return rows.map((r) => r.chunk_no);
}

/** The result files' sizes so far, summed over the written chunks, and how many chunks that is. */
export async function sumChunkFiles(db: Queryable, batchId: string): Promise<ChunkFileSizes & { chunks: number }> {
  const { rows } = await db.query<ChunkFileSizes & { chunks: number }>(
    `SELECT count(*)::int AS chunks, coalesce(sum(output_bytes), 0)::bigint AS "outputBytes",
            coalesce(sum(error_bytes), 0)::bigint AS "errorBytes", coalesce(sum(unexecuted), 0)::int AS unexecuted
     FROM batch_chunk_files WHERE batch_id = $1`,
    [batchId],
  );
  return rows[0]!;
}
