import type { Db } from '../db/pool';
import { findFile, listFiles, type FileListQuery } from '../store/files';
import { toFileObject, type FileObject } from './object';

/** The tenant's file as the API shows it; undefined when the tenant has no (undeleted) file of that id. */
export async function retrieveFile(db: Db, tenantId: string, fileId: string): Promise<FileObject | undefined> {
  const row = await findFile(db, tenantId, fileId);
  return row && toFileObject(row);
}

/**
 * The tenant's files after the cursor in the requested order, up to `limit` plus one more when there
 * are more (what `has_more` reports); undefined when the cursor names no file of the tenant.
 */
export async function listFilePage(db: Db, tenantId: string, query: FileListQuery): Promise<FileObject[] | undefined> {
  const rows = await listFiles(db, tenantId, { ...query, limit: query.limit + 1 });
  return rows?.map(toFileObject);
}
