import crypto from 'node:crypto';

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomAlphanumeric(length: number): string {
  const bytes = crypto.randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHANUM[byte % ALPHANUM.length];
  return out;
}

/** IDs shaped like OpenAI's, so clients that pattern-match them keep working. */
export const newFileId = () => `file-${randomAlphanumeric(24)}`;
export const newBatchId = () => `batch_${crypto.randomBytes(16).toString('hex')}`;

/** A queued request (stream-to-batch). */
export const newRequestId = () => `req_${crypto.randomBytes(12).toString('hex')}`;
/** One incarnation of a queue: a queue deleted and created again gets a new one. */
export const newQueueId = () => `queue_${crypto.randomBytes(8).toString('hex')}`;
/**
 * The batch a queue's `dispatchNo`-th dispatch creates: derived, so a dispatch retried after a crash
 * finds the workflow its first attempt started instead of starting a second.
 */
export const queueBatchId = (queueId: string, dispatchNo: number) => `batch_${crypto.hash('sha256', `${queueId}:${dispatchNo}`, 'hex').slice(0, 32)}`;

/** Deterministic per request line, so a retried or re-finalized batch writes identical output. */
export const batchRequestId = (batchId: string, lineNo: number) => `batch_req_${crypto.hash('sha256', `${batchId}:${lineNo}`, 'hex').slice(0, 32)}`;
