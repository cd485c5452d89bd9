import { z } from 'zod';
import type { FileRow } from '../store/files';
import { toUnixSeconds, toUnixSecondsOrNull, UnixSeconds } from '../unixTime';

/** Purposes a client may upload with; `batch_output` files are written by the server only. */
export const UPLOAD_PURPOSES = ['batch'] as const;
export const FILE_PURPOSES = [...UPLOAD_PURPOSES, 'batch_output'] as const;

/** The File object exactly as OpenAI documents it; the OpenAPI document and the tests use this schema. */
export const FileObject = z.strictObject({
  id: z.string(),
  object: z.literal('file'),
  bytes: z.number().int().nonnegative(),
  created_at: UnixSeconds,
  expires_at: UnixSeconds.nullable(),
  filename: z.string(),
  purpose: z.enum(FILE_PURPOSES),
  status: z.enum(['uploaded', 'processed', 'error']),
});
export type FileObject = z.infer<typeof FileObject>;

export const DeletedFileObject = z.strictObject({ id: z.string(), object: z.literal('file'), deleted: z.literal(true) });

export function toFileObject(row: FileRow): FileObject {
  return {
    id: row.id,
    object: 'file',
    bytes: row.bytes,
    created_at: toUnixSeconds(row.created_at),
    expires_at: toUnixSecondsOrNull(row.expires_at),
    filename: row.filename,
    purpose: row.purpose as FileObject['purpose'],
    status: row.status as FileObject['status'],
  };
}
