import type { Readable } from 'node:stream';
import crypto from 'node:crypto';
import { withTransaction, type Db } from '../db/pool';
import { newFileId } from '../ids';
import { claimKey, hashJson } from '../idempotency/claim';
import { completeFile, deleteFile, findFile, insertFile } from '../store/files';
import { FileContentWriter, PART_BYTES } from './content';
import { toFileObject, type FileObject } from './object';

export type UploadFields = { purpose: string; expiresAfterSeconds: number | null };

/** `replayed`: an earlier upload with the same Idempotency-Key and the same content and fields created it. */
export type StoredUpload = { file: FileObject; replayed: boolean };

/** The Idempotency-Key created another file, or a file since deleted: this upload is not stored. */
export class IdempotencyKeyReusedError extends Error {}

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
    /** The client's Idempotency-Key: a retried upload of the same content and fields gets the first one's file. */
    idempotencyKey?: string;
  },
): Promise<StoredUpload> {
  const fileId = newFileId();
  const filename = sanitizeFilename(upload.filename);
  const contentHash = upload.idempotencyKey === undefined ? undefined : crypto.createHash('sha256');
  let created = false;
  const writer = new FileContentWriter(db, fileId);
  // The row is created just before the first part is written.
  const ensureRow = async () => {
    if (created) return;
    await insertFile(db, { id: fileId, tenantId: upload.tenantId, purpose: 'batch', filename });
    created = true;
  };
  let writing = false;
  try {
    try {
      for await (const chunk of upload.content) {
        if (writer.bytesWritten + (chunk as Buffer).length > upload.maxBytes) throw new FileTooLargeError(upload.maxBytes);
        writer.buffer(chunk as Buffer);
        contentHash?.update(chunk as Buffer);
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
    if (upload.idempotencyKey === undefined || contentHash === undefined) {
      return { file: toFileObject(await completeFile(db, fileId, bytes, fields.purpose, fields.expiresAfterSeconds)), replayed: false };
    }
    const request = {
      key: upload.idempotencyKey,
      requestHash: hashJson({ content_sha256: contentHash.digest('hex'), filename, purpose: fields.purpose, expires_after_seconds: fields.expiresAfterSeconds }),
    };
    const stored = await withTransaction(db, async (client): Promise<StoredUpload> => {
      const claim = await claimKey(client, upload.tenantId, 'create_file', request, fileId);
      if (claim.kind === 'claimed') return { file: toFileObject(await completeFile(client, fileId, bytes, fields.purpose, fields.expiresAfterSeconds)), replayed: false };
      if (claim.kind === 'mismatch')
        throw new IdempotencyKeyReusedError('This Idempotency-Key was used for another upload (other content or fields); use a new key for a new file.');
      const original = await findFile(client, upload.tenantId, claim.resourceId);
      if (!original)
        throw new IdempotencyKeyReusedError(`The file this Idempotency-Key created, '${claim.resourceId}', has been deleted; use a new key to upload it again.`);
      return { file: toFileObject(original), replayed: true };
    });
    // The retry's own copy goes: the first upload's file is the one the key stands for.
    if (stored.replayed) await deleteFile(db, fileId);
    return stored;
  } catch (err) {
    if (created) await deleteFile(db, fileId).catch(() => undefined);
    throw err;
  }
}
