import type { Db } from '../db/pool';
import { markFileDeleted, type FileDeletion } from '../store/files';

export type { FileDeletion };

/**
 * Deletes the tenant's file: its content goes, its row stays as a list cursor. Refused (`in_use`)
 * while it is the input of a batch still validating, which reads it.
 */
export function deleteFile(db: Db, tenantId: string, fileId: string): Promise<FileDeletion> {
  return markFileDeleted(db, tenantId, fileId);
}
