/**
 * The statuses of a stored file, defined once (PostgreSQL checks the same list, `files_status_check`,
 * migration 010). A leaf: it imports nothing.
 *
 * Only `processed` files are visible: `uploading` while an upload's parts arrive (swept if the upload
 * was abandoned), `writing` while a batch writes its result files chunk by chunk (finalize completes them).
 */
export const FILE_STATUSES = ['uploading', 'writing', 'processed'] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];
