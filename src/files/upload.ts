import type { Readable } from 'node:stream';
import { withTransaction, type Db } from '../db/pool';
import { newFileId } from '../ids';
import { completeFile, insertFile, type FileRow } from '../store/files';
import { FileContentWriter } from './content';

export class FileTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`File exceeds the maximum size of ${maxBytes} bytes.`);
  }
}

/** Strips directories and control characters: a filename is a label, never a path. */
export function sanitizeFilename(raw: string | undefined): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'upload.jsonl' : cleaned;
}

/**
 * Streams an upload into Postgres part by part inside one transaction, so a file becomes visible
 * only when complete and an aborted or oversized upload leaves nothing behind. `resolvePurpose`
 * runs after the content is stored, because multipart fields may arrive after the file.
 */
export async function storeUpload(
  db: Db,
  upload: {
    tenantId: string;
    filename: string | undefined;
    content: Readable;
    maxBytes: number;
    resolvePurpose: () => Promise<string>;
  },
): Promise<FileRow> {
  return withTransaction(db, async (client) => {
    const fileId = newFileId();
    await insertFile(client, {
      id: fileId,
      tenantId: upload.tenantId,
      purpose: 'batch',
      filename: sanitizeFilename(upload.filename),
    });
    const writer = new FileContentWriter(client, fileId);
    for await (const chunk of upload.content) {
      if (writer.bytesWritten + (chunk as Buffer).length > upload.maxBytes) {
        upload.content.destroy();
        throw new FileTooLargeError(upload.maxBytes);
      }
      await writer.write(chunk as Buffer);
    }
    const bytes = await writer.end();
    return completeFile(client, fileId, bytes, await upload.resolvePurpose());
  });
}
