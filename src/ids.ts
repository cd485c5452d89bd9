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

/** Deterministic per request line, so a retried or re-finalized batch writes identical output. */
export const batchRequestId = (batchId: string, lineNo: number) => `batch_req_${crypto.hash('sha256', `${batchId}:${lineNo}`, 'hex').slice(0, 32)}`;
