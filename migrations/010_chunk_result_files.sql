-- Output and error files are written chunk by chunk while a batch runs, not all at its end
-- (src/batches/resultFiles.ts): each chunk's lines take their own range of part numbers,
-- chunk_no × 2^32 onwards, so chunks written in any order read back in input order. The wider
-- type rewrites file_parts once.
ALTER TABLE file_parts ALTER COLUMN part_no TYPE bigint;

-- A batch's result files exist from its first written chunk: `writing` (invisible to every read,
-- like `uploading`, but never swept as an abandoned upload) until finalize makes them `processed`.
-- FILE_STATUSES in src/states/file.ts.
ALTER TABLE files DROP CONSTRAINT files_status_check;
ALTER TABLE files ADD CONSTRAINT files_status_check CHECK (status IN ('uploading', 'writing', 'processed'));

-- The terminal status finalize chose, set once, in the statement that stops result writes: from then
-- on no result is stored and the batch may only move to this status (FINALIZE_OUTCOMES).
ALTER TABLE batches ADD COLUMN final_status text;
ALTER TABLE batches ADD CONSTRAINT batches_final_status_check CHECK (final_status IN ('completed', 'expired', 'cancelled', 'failed'));

-- One row per chunk whose lines are in the batch's result files, written in the transaction that
-- writes them: a chunk is written once, and finalize only writes the chunks missing here.
CREATE TABLE batch_chunk_files (
  batch_id      text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
  chunk_no      integer NOT NULL,
  output_bytes  bigint NOT NULL DEFAULT 0,
  error_bytes   bigint NOT NULL DEFAULT 0,
  -- Lines written as never executed (batch_cancelled, batch_expired, batch_failed): they count as failed.
  unexecuted    integer NOT NULL DEFAULT 0,
  written_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, chunk_no)
);
