import type { Queryable } from '../db/pool';

export type FileRow = {
  id: string;
  tenant_id: string;
  purpose: string;
  filename: string;
  bytes: number;
  status: string;
  created_at: Date;
  expires_at: Date | null;
};

export async function insertFile(
  db: Queryable,
  file: { id: string; tenantId: string; purpose: string; filename: string },
): Promise<void> {
  await db.query(`INSERT INTO files (id, tenant_id, purpose, filename, bytes) VALUES ($1, $2, $3, $4, 0)`, [
    file.id,
    file.tenantId,
    file.purpose,
    file.filename,
  ]);
}

/** Sets what is only known once the content is written; the caller's transaction makes both visible together. */
export async function completeFile(db: Queryable, fileId: string, bytes: number, purpose: string): Promise<FileRow> {
  const { rows } = await db.query<FileRow>(
    `UPDATE files SET bytes = $2, purpose = $3 WHERE id = $1 RETURNING *`,
    [fileId, bytes, purpose],
  );
  return rows[0]!;
}

export async function insertFilePart(db: Queryable, fileId: string, partNo: number, data: Buffer): Promise<void> {
  await db.query(`INSERT INTO file_parts (file_id, part_no, data) VALUES ($1, $2, $3)`, [fileId, partNo, data]);
}

export async function findFile(db: Queryable, tenantId: string, fileId: string): Promise<FileRow | undefined> {
  const { rows } = await db.query<FileRow>(`SELECT * FROM files WHERE id = $1 AND tenant_id = $2`, [fileId, tenantId]);
  return rows[0];
}

/** One part at a time: the caller streams, never loading the whole file. */
export async function readFilePart(db: Queryable, fileId: string, partNo: number): Promise<Buffer | undefined> {
  const { rows } = await db.query<{ data: Buffer }>(
    `SELECT data FROM file_parts WHERE file_id = $1 AND part_no = $2`,
    [fileId, partNo],
  );
  return rows[0]?.data;
}

export async function deleteFile(db: Queryable, fileId: string): Promise<void> {
  await db.query(`DELETE FROM files WHERE id = $1`, [fileId]);
}
