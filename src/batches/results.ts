import { z } from 'zod';
import type { Db } from '../db/pool';
import { BATCH_STATUSES, hasRun, isTerminal } from '../states/batch';
import { findBatch } from '../store/batches';
import { readBatchWithResults } from '../store/requests';
import { neverExecutedCode, outputLine } from './outputLines';

/**
 * One page of GET /v1/batches/{id}/results (extension). `result` is the line exactly as the batch's
 * output or error file has (or will have) it.
 */
export const BatchResultsPage = z.strictObject({
  object: z.literal('list'),
  data: z.array(
    z.strictObject({
      line: z.number().int().positive().describe('1-based line of the input file'),
      file: z.enum(['output', 'error']).describe('The result file this line is (or will be) in'),
      result: z.object({}).loose().describe('The line exactly as in that file: {id, custom_id, response, error}'),
    }),
  ),
  last_line: z.number().int().nonnegative().describe('Pass as `after` for the next page: the last line of this page, or `after` when it is empty'),
  has_more: z.boolean().describe('False once the batch has ended and every line up to its last has been returned'),
  batch_status: z.enum(BATCH_STATUSES),
});

export type ResultsPageOutcome = { kind: 'page'; json: string } | { kind: 'not_found' } | { kind: 'purged' };

/**
 * The batch's finished lines after line `after`, in input order, up to `limit`, stopping before the
 * first line not finished yet: a line appears only once every line before it has, so a client that
 * pages on with `last_line` gets every line exactly once however the chunks interleave. Once the
 * batch has ended, lines it never ran read as its files have them (batch_cancelled, ...). Served
 * from the per-request rows (none while the batch validates), so only until retention drops them after the batch ends (`purged`:
 * the files hold everything then). The page is JSON text with each line spliced in as stored.
 */
export async function readResultsPage(db: Db, tenantId: string, batchId: string, page: { after: number; limit: number }): Promise<ResultsPageOutcome> {
  // Read before the lines: a batch that ends in between is still treated as running, which only cuts a page short.
  const batch = await findBatch(db, tenantId, batchId);
  if (!batch) return { kind: 'not_found' };
  if (batch.requests_purged_at !== null || batch.results_purged_at !== null) return { kind: 'purged' };
  const ended = isTerminal(batch.status);
  // A batch never in progress shows no line: its first chunks' may be done, but it may yet fail (or
  // was cancelled while validating) and drop them.
  const rows = !hasRun(batch) ? [] : await readBatchWithResults(db, batchId, page.after, page.limit + 1);
  const items: string[] = [];
  let lastLine = page.after;
  for (const row of rows.slice(0, page.limit)) {
    const finished = ended || row.status_code !== null || row.error_code !== null;
    if (!finished) break;
    const { file, line } = outputLine(batchId, row, neverExecutedCode(batch.final_status ?? batch.status));
    items.push(`{"line":${row.line_no},"file":"${file}","result":${line.trimEnd()}}`);
    lastLine = row.line_no;
  }
  const hasMore = !ended || rows.length > items.length;
  return { kind: 'page', json: `{"object":"list","data":[${items.join(',')}],"last_line":${lastLine},"has_more":${hasMore},"batch_status":"${batch.status}"}` };
}
