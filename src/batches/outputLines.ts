import { batchRequestId } from '../ids';
import type { RequestWithResult } from '../store/requests';

/** A 2xx response: its line goes to the output file and counts as completed; anything else failed. */
export const isSuccessStatus = (statusCode: number | null): boolean => statusCode !== null && statusCode >= 200 && statusCode < 300;

export type NeverExecutedCode = 'batch_expired' | 'batch_cancelled' | 'batch_failed';

/** The error of a request a batch ended without running, by how the batch ended (a completed batch ran every request). */
export function neverExecutedCode(batchEnd: string | null): NeverExecutedCode {
  return batchEnd === 'expired' ? 'batch_expired' : batchEnd === 'cancelled' ? 'batch_cancelled' : 'batch_failed';
}

/**
 * One output-file line per request, OpenAI's shape. Returns where it belongs: 2xx responses go to
 * the output file, everything else (non-2xx, no response, never executed) to the error file.
 */
export function outputLine(batchId: string, row: RequestWithResult, neverExecuted: NeverExecutedCode): { file: 'output' | 'error'; line: string } {
  const id = batchRequestId(batchId, row.line_no);
  if (row.status_code !== null) {
    // The body is stored JSON text: spliced in as is rather than parsed and re-serialised, which for a
    // million-line batch is most of the work of writing its output.
    const line =
      `{"id":${JSON.stringify(id)},"custom_id":${JSON.stringify(row.custom_id)},` +
      `"response":{"status_code":${row.status_code},"request_id":${JSON.stringify(row.request_id)},` +
      `"body":${row.response_body ?? 'null'}},"error":null}\n`;
    return { file: isSuccessStatus(row.status_code) ? 'output' : 'error', line };
  }
  const error =
    row.error_code !== null ? { code: row.error_code, message: row.error_message ?? '' } : { code: neverExecuted, message: NEVER_EXECUTED_MESSAGES[neverExecuted] };
  return { file: 'error', line: JSON.stringify({ id, custom_id: row.custom_id, response: null, error }) + '\n' };
}

const NEVER_EXECUTED_MESSAGES: Record<NeverExecutedCode, string> = {
  batch_expired: 'This request could not be executed before the completion window expired.',
  batch_cancelled: 'This request was not executed because the batch was cancelled.',
  batch_failed: 'This request was not executed because the batch failed.',
};
