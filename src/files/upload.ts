import type { Readable } from 'node:stream';
import type { Db } from '../db/pool';
import { newFileId } from '../ids';
import { completeFile, deleteFile, insertFile } from '../store/files';
import { FileContentWriter, PART_BYTES } from './content';
import { toFileObject, type FileObject } from './object';

export type UploadFields = { purpose: string; expiresAfterSeconds: number | null };

export class FileTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`File exceeds the maximum size of ${maxBytes} bytes.`);
  }
}

/** The upload's content stream failed: the client disconnected or sent a malformed body. Never the server's fault. */
export class UploadInterruptedError extends Error {
  constructor(override readonly cause: unknown) {
    super(`The upload was interrupted: ${(cause as Error | undefined)?.message ?? String(cause)}`);
  }
}

/** Strips directories and control characters: a filename is a label, never a path. */
export function sanitizeFilename(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base
    // eslint-disable-next-line no-control-regex -- control characters are what it removes
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .toWellFormed()
    .trim();
  // Cut by code points, not UTF-16 units, so the cut never splits a character.
  const label = Array.from(cleaned).slice(0, 255).join('');
  return label === '' || label === '.' || label === '..' ? 'upload.jsonl' : label;
}

/**
 * Stores an upload part by part. No database connection is held while waiting for the client: the
 * bytes gather in memory up to one part, then a short statement writes it. The row stays
 * `uploading` (invisible to every read) until the last part is written and the purpose is known,
 * so a file appears only when complete; a failed upload deletes what it wrote, and one cut short by
 * a crash is swept by `deleteAbandonedUploads`.
 *
 * Reads `content` from the moment it is called (no await comes first), so an error the stream
 * raises at once has a listener and surfaces here as an `UploadInterruptedError`.
 * `resolveFields` runs after the content is read, because multipart fields may follow the file.
 */
export async function storeUpload(
  db: Db,
  upload: {
    tenantId: string;
    filename: string | undefined;
    content: Readable;
    maxBytes: number;
    /** The upload's other fields: its purpose, and how long after its creation it expires (OpenAI's `expires_after`), if at all. */
    resolveFields: () => Promise<UploadFields>;
  },
): Promise<FileObject> {
  const fileId = newFileId();
  let created = false;
  const writer = new FileContentWriter(db, fileId);
  // The row is created just before the first part is written.
  const ensureRow = async () => {
    if (created) return;
    await insertFile(db, { id: fileId, tenantId: upload.tenantId, purpose: 'batch', filename: sanitizeFilename(upload.filename) });
    created = true;
  };
  let writing = false;
  try {
    try {
      for await (const chunk of upload.content) {
        if (writer.bytesWritten + (chunk as Buffer).length > upload.maxBytes) throw new FileTooLargeError(upload.maxBytes);
        writer.buffer(chunk as Buffer);
        if (writer.bufferedBytes >= PART_BYTES) {
          writing = true;
          await ensureRow();
          await writer.flushFullParts();
          writing = false;
        }
      }
    } catch (err) {
      // What the stream raised is the client's doing; what a write raised is ours.
      if (err instanceof FileTooLargeError || writing) throw err;
      throw new UploadInterruptedError(err);
    }
    await ensureRow();
    const bytes = await writer.end();
    const fields = await upload.resolveFields();
    return toFileObject(await completeFile(db, fileId, bytes, fields.purpose, fields.expiresAfterSeconds));
  } catch (err) {
    if (created) await deleteFile(db, fileId).catch(() => undefined);
    throw err;
  }
}
