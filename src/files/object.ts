import type { FileRow } from '../store/files';

/** The File object exactly as OpenAI documents it. */
export function toFileObject(row: FileRow) {
  return {
    id: row.id,
    object: 'file' as const,
    bytes: row.bytes,
    created_at: Math.floor(row.created_at.getTime() / 1000),
    expires_at: row.expires_at === null ? null : Math.floor(row.expires_at.getTime() / 1000),
    filename: row.filename,
    purpose: row.purpose,
    status: row.status,
  };
}
