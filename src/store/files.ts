import type { Queryable } from '../db/pool';
import { INITIAL_STATUS } from '../states/batch';
import type { FileStatus } from '../states/file';

export type FileRow = {
  id: string;
  tenant_id: string;
  purpose: string;
  filename: string;
  bytes: number;
  status: FileStatus;
  created_at: Date;
  expires_at: Date | null;
  deleted_at: Date | null;
};

export type FileListQuery = { purpose?: string; after?: string; limit: number; order: 'asc' | 'desc' };

/**
 * A new file is invisible to every read below, `uploading` (an upload: swept if abandoned) or `writing`
 * (a batch's result file), until `completeFile` commits its content.
 */
export async function insertFile(
  db: Queryable,
  file: { id: string; tenantId: string; purpose: string; filename: string; status?: Exclude<FileStatus, 'processed'> },
): Promise<void> {
  await db.query(`INSERT INTO files (id, tenant_id, purpose, filename, bytes, status) VALUES ($1, $2, $3, $4, 0, $5)`, [
    file.id,
    file.tenantId,
    file.purpose,
    file.filename,
    file.status ?? 'uploading',
  ]);
}

/**
 * Sets what is only known once the content is written, and makes the file visible. A batch's result
 * file, written while the batch ran, is dated when it appears (an upload keeps its start); with
 * `expiresAfterSeconds`, it expires that long after that date (OpenAI's `created_at` anchor).
 */
export async function completeFile(db: Queryable, fileId: string, bytes: number, purpose: string, expiresAfterSeconds: number | null = null): Promise<FileRow> {
  const { rows } = await db.query<FileRow>(
    `WITH dated AS (SELECT id, CASE WHEN status = 'writing' THEN statement_timestamp() ELSE created_at END AS created_at FROM files WHERE id = $1)
     UPDATE files f SET bytes = $2, purpose = $3, status = 'processed', created_at = d.created_at,
       expires_at = CASE WHEN $4::int IS NULL THEN f.expires_at ELSE d.created_at + make_interval(secs => $4::int) END
     FROM dated d WHERE f.id = d.id RETURNING f.*`,
    [fileId, bytes, purpose, expiresAfterSeconds],
  );
  return rows[0]!;
}

/** Part numbers order a file's content; they need not be contiguous (see `readNextFilePart`). */
export async function insertFilePart(db: Queryable, fileId: string, partNo: number, data: Buffer): Promise<void> {
  await db.query(`INSERT INTO file_parts (file_id, part_no, data) VALUES ($1, $2, $3)`, [fileId, partNo, data]);
}

export async function findFile(db: Queryable, tenantId: string, fileId: string): Promise<FileRow | undefined> {
  const { rows } = await db.query<FileRow>(`SELECT * FROM files WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL AND status = 'processed'`, [fileId, tenantId]);
  return rows[0];
}

/**
 * A page of the tenant's files by (created_at, id), starting after the file `after` (deleted files
 * still mark their position). Undefined when `after` names no file of this tenant.
 */
export async function listFiles(db: Queryable, tenantId: string, query: FileListQuery): Promise<FileRow[] | undefined> {
  const [compare, direction] = query.order === 'asc' ? ['>', 'ASC'] : ['<', 'DESC'];
  const { rows } = await db.query<FileRow>(
    `WITH cursor AS (SELECT created_at, id FROM files WHERE id = $3 AND tenant_id = $1)
     SELECT f.* FROM files f
     WHERE f.tenant_id = $1 AND f.deleted_at IS NULL AND f.status = 'processed'
       AND ($2::text IS NULL OR f.purpose = $2)
       AND ($3::text IS NULL OR (f.created_at, f.id) ${compare} (SELECT created_at, id FROM cursor))
     ORDER BY f.created_at ${direction}, f.id ${direction}
     LIMIT $4`,
    [tenantId, query.purpose ?? null, query.after ?? null, query.limit],
  );
  if (rows.length === 0 && query.after !== undefined && !(await fileExisted(db, tenantId, query.after))) return undefined;
  return rows;
}

async function fileExisted(db: Queryable, tenantId: string, fileId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM files WHERE id = $1 AND tenant_id = $2`, [fileId, tenantId]);
  return rowCount === 1;
}

export type FileDeletion = 'deleted' | 'not_found' | 'in_use';

/**
 * Drops a file's content and hides it, keeping the row as a list cursor. Refused while the file is
 * the input of a batch still validating (its initial status), which streams the content and would see it vanish mid-read.
 */
export async function markFileDeleted(db: Queryable, tenantId: string, fileId: string): Promise<FileDeletion> {
  const { rows } = await db.query<{ found: boolean; busy: boolean; deleted: boolean }>(
    `WITH target AS (SELECT id FROM files WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL AND status = 'processed'),
     busy AS (
       SELECT EXISTS (SELECT 1 FROM batches b JOIN target t ON b.input_file_id = t.id WHERE b.status = $3) AS busy
     ),
     deleted AS (
       UPDATE files SET deleted_at = now()
       WHERE id IN (SELECT id FROM target) AND NOT (SELECT busy FROM busy)
       RETURNING id
     ),
     parts AS (DELETE FROM file_parts WHERE file_id IN (SELECT id FROM deleted))
     SELECT EXISTS (SELECT 1 FROM target) AS found, (SELECT busy FROM busy) AS busy, EXISTS (SELECT 1 FROM deleted) AS deleted`,
    [fileId, tenantId, INITIAL_STATUS],
  );
  const { found, busy, deleted } = rows[0]!;
  if (deleted) return 'deleted';
  return found && busy ? 'in_use' : 'not_found';
}

/**
 * The part after part number `afterPartNo` (-1 for the first), one at a time: the caller streams,
 * never loading the whole file. By keyset, as a batch's result files number each chunk's parts from
 * its own base and leave gaps between chunks.
 */
export async function readNextFilePart(db: Queryable, fileId: string, afterPartNo: number): Promise<{ part_no: number; data: Buffer } | undefined> {
  const { rows } = await db.query<{ part_no: number; data: Buffer }>(
    `SELECT part_no, data FROM file_parts WHERE file_id = $1 AND part_no > $2 ORDER BY part_no LIMIT 1`,
    [fileId, afterPartNo],
  );
  return rows[0];
}

export async function deleteFile(db: Queryable, fileId: string): Promise<void> {
  await db.query(`DELETE FROM files WHERE id = $1`, [fileId]);
}

/**
 * Deletes uploads whose request cannot still be running (started more than `olderThanMs` ago) and
 * that never completed: what a process killed mid-upload left behind. Idempotent.
 */
export async function deleteAbandonedUploads(db: Queryable, olderThanMs: number): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM files WHERE status = 'uploading' AND created_at < now() - $1 * interval '1 millisecond'`, [olderThanMs]);
  return rowCount ?? 0;
}
