import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { Option, type Command } from 'commander';
import type OpenAI from 'openai';
import type { Batch, BatchCreateParams, BatchError } from 'openai/resources/batches';
import { BATCH_STATUSES } from '../../states/batch';
import { commaList, completionWindow, keyValue, nonNegativeInt, positiveInt } from '../args';
import { apiClient, type GlobalOptions } from '../client';
import { countsText, EXIT, exitCodeOf, isoTime, printFields, printJson, printTable } from '../output';
import { watchBatch } from '../progress';
import { uploadFile } from './files';

/** The create body with this server's extensions (README: Extensions), which the SDK's type does not name. */
type CreateBody = BatchCreateParams & { model?: string; webhook?: { url: string } };

type WaitOptions = { download?: string };

/** A page of GET /v1/batches/{id}/results (README: Extensions). */
type ResultsPage = { data: { line: number; result: unknown }[]; last_line: number; has_more: boolean };
const RESULTS_POLL_MS = 1000;

export function registerBatchCommands(program: Command, globals: () => GlobalOptions): void {
  program
    .command('submit')
    .description('upload a JSONL file of requests and create a batch reading it')
    .argument('<file>', 'the requests, one JSON line each ({custom_id, method, url, body})')
    .option('--model <model>', 'model for lines whose body names none (the API\'s "model" extension)')
    .option('--endpoint <endpoint>', 'the endpoint every line targets', '/v1/chat/completions')
    .option('--window <window>', 'completion window: 24h, or a duration such as 90s, 30m, 7d', completionWindow, '24h')
    .option('--metadata <key=value>', 'a metadata pair; repeat for more (up to 16), e.g. --metadata team=search --metadata priority=1', keyValue, {})
    .option('--webhook <url>', "POST the batch's events (completed, failed, cancelled, expired) to this URL")
    .option('--wait', 'show the progress until the batch ends; exit with its outcome')
    .option('--download <dir>', 'with --wait (implied): write the output and error files into this directory')
    .action(
      async (
        file: string,
        options: WaitOptions & { model?: string; endpoint: string; window: string; metadata: Record<string, string>; webhook?: string; wait?: boolean },
      ) => {
        const g = globals();
        const client = apiClient(g);
        const input = await uploadFile(client, file, 'batch');
        const body: CreateBody = {
          input_file_id: input.id,
          endpoint: options.endpoint as BatchCreateParams['endpoint'],
          completion_window: options.window as BatchCreateParams['completion_window'],
          ...(Object.keys(options.metadata).length > 0 ? { metadata: options.metadata } : {}),
          ...(options.model !== undefined ? { model: options.model } : {}),
          ...(options.webhook !== undefined ? { webhook: { url: options.webhook } } : {}),
        };
        const batch = await client.batches.create(body);
        if (!options.wait && options.download === undefined) {
          if (g.json) printJson(batch);
          else console.log(`${batch.id} ${batch.status} (input ${input.id}); follow it with: vbs watch ${batch.id}`);
          return;
        }
        if (!g.json) console.log(`${batch.id} submitted (input ${input.id})`);
        await watchToTheEnd(client, g, batch.id, options);
      },
    );

  program
    .command('watch')
    .description("show a batch's progress until it ends; exit with its outcome")
    .argument('<id>', 'batch ID')
    .option('--download <dir>', 'write the output and error files into this directory once it has ended')
    .action(async (id: string, options: WaitOptions) => {
      const g = globals();
      await watchToTheEnd(apiClient(g), g, id, options);
    });

  program
    .command('status')
    .description('a batch: status, request counts, files, errors and its Temporal UI link; exits with its outcome once ended')
    .argument('<id>', 'batch ID')
    .action(async (id: string) => {
      const g = globals();
      const batch = await apiClient(g).batches.retrieve(id);
      if (g.json) printJson(batch);
      else printStatus(batch, g);
      process.exitCode = exitCodeOf(batch.status);
    });

  program
    .command('list')
    .description('the latest batches, newest first')
    // Checked here: the filter runs on this side, so a misspelt status would silently list nothing.
    .addOption(new Option('--status <status>', 'only batches with this status').choices(BATCH_STATUSES))
    .option('--limit <n>', 'at most this many', positiveInt, 20)
    .action(async (options: { status?: string; limit: number }) => {
      const g = globals();
      const batches: Batch[] = [];
      // The API filters by nothing, so the pages are walked until enough batches match.
      for await (const batch of apiClient(g).batches.list({ limit: Math.min(options.limit, 100) })) {
        if (options.status === undefined || batch.status === options.status) batches.push(batch);
        if (batches.length >= options.limit) break;
      }
      if (g.json) return printJson(batches);
      printTable(
        ['ID', 'STATUS', 'REQUESTS', 'MODEL', 'CREATED'],
        batches.map((b) => [b.id, b.status, countsText(b.request_counts), b.model ?? '', isoTime(b.created_at)]),
      );
    });

  program
    .command('cancel')
    .description('cancel a batch: it answers cancelling, then ends cancelled with what had finished')
    .argument('<id>', 'batch ID')
    .action(async (id: string) => {
      const g = globals();
      const batch = await apiClient(g).batches.cancel(id);
      if (g.json) printJson(batch);
      else console.log(`${batch.id} ${batch.status}`);
    });

  program
    .command('retry')
    .description("create a batch of an ended batch's failed lines: same custom_ids, bodies, endpoint and metadata, linked by retry_of")
    .argument('<id>', 'the ended batch')
    .option(
      '--codes <codes>',
      'only the failed lines with one of these codes, comma-separated: an error code (rate_limited, server_error, timeout, ...) or http_<status>',
      commaList,
    )
    .option('--wait', 'show the progress of the new batch until it ends; exit with its outcome')
    .option('--download <dir>', 'with --wait (implied): write its output and error files into this directory')
    .action(async (id: string, options: WaitOptions & { codes?: string[]; wait?: boolean }) => {
      const g = globals();
      const client = apiClient(g);
      const batch = await client.post<Batch>(`/batches/${encodeURIComponent(id)}/retry`, { body: options.codes ? { codes: options.codes } : {} });
      if (!options.wait && options.download === undefined) {
        if (g.json) printJson(batch);
        else console.log(`${batch.id} ${batch.status} retries the failed lines of ${id}; follow it with: vbs watch ${batch.id}`);
        return;
      }
      if (!g.json) console.log(`${batch.id} retries the failed lines of ${id}`);
      await watchToTheEnd(client, g, batch.id, options);
    });

  program
    .command('results')
    .description('the lines a batch has finished so far, in input order, one JSON line each ({id, custom_id, response, error}, as in its output or error file)')
    .option('--after <line>', 'start after this input line (0: from the start)', nonNegativeInt, 0)
    .option('--follow', 'keep reading as lines finish, until the batch has ended and every line is out')
    .argument('<id>', 'batch ID')
    .action(async (id: string, options: { after: number; follow?: boolean }) => {
      const client = apiClient(globals());
      let after = options.after;
      for (;;) {
        const page = await client.get<ResultsPage>(`/batches/${encodeURIComponent(id)}/results`, { query: { after, limit: 1000 } });
        for (const item of page.data) process.stdout.write(`${JSON.stringify(item.result)}\n`);
        after = page.last_line;
        if (!page.has_more || (!options.follow && page.data.length === 0)) break;
        if (page.data.length === 0) await new Promise((resolve) => setTimeout(resolve, RESULTS_POLL_MS));
      }
      console.error(`read to line ${after}`);
    });

  program
    .command('download')
    .description("write an ended batch's output and error files into a directory")
    .argument('<id>', 'batch ID')
    .option('--dir <dir>', 'target directory', '.')
    .action(async (id: string, options: { dir: string }) => {
      const g = globals();
      const client = apiClient(g);
      const batch = await client.batches.retrieve(id);
      if (!batch.output_file_id && !batch.error_file_id) throw new Error(`${id} is ${batch.status}: it has no output or error file (they appear once it has ended)`);
      const written = await downloadFiles(client, batch, options.dir);
      if (g.json) printJson(written);
    });
}

/** Watches until the batch ends (or the user stops watching), reports where its results are, and exits with its outcome. */
async function watchToTheEnd(client: OpenAI, g: GlobalOptions, id: string, options: WaitOptions): Promise<void> {
  const { batch, stoppedWatching } = await watchBatch(client, id, { json: g.json });
  if (stoppedWatching) {
    if (g.json) printJson(batch);
    console.error(`stopped watching; ${id} is ${batch.status} and keeps going (vbs watch ${id})`);
    process.exitCode = EXIT.interrupted;
    return;
  }
  if (g.json) printJson(batch);
  else {
    console.log(`${batch.id} ${batch.status}: ${countsText(batch.request_counts)}`);
    console.log(`output file: ${batch.output_file_id ?? '-'}`);
    console.log(`error file: ${batch.error_file_id ?? '-'}`);
    for (const error of batch.errors?.data ?? []) console.log(`  ${errorLine(error)}`);
  }
  if (options.download !== undefined) await downloadFiles(client, batch, options.download);
  process.exitCode = exitCodeOf(batch.status);
}

/** Writes `<id>_output.jsonl` and `<id>_errors.jsonl` (those the batch has); reports each path on stderr. */
async function downloadFiles(client: OpenAI, batch: Batch, dir: string): Promise<{ output: string | null; errors: string | null }> {
  fs.mkdirSync(dir, { recursive: true });
  const write = async (fileId: string | null | undefined, suffix: string) => {
    if (!fileId) return null;
    const target = path.join(dir, `${batch.id}_${suffix}.jsonl`);
    // Opened before the download starts: a place that cannot be written fails at once, with nothing fetched.
    const file = await fs.promises.open(target, 'w');
    const response = await client.files.content(fileId).catch(async (err: unknown) => {
      await file.close();
      throw err;
    });
    // Streamed to disk: a result file can be far larger than the CLI's memory.
    await pipeline(Readable.fromWeb(response.body as ReadableStream<Uint8Array>), file.createWriteStream());
    console.error(`wrote ${target}`);
    return target;
  };
  return { output: await write(batch.output_file_id, 'output'), errors: await write(batch.error_file_id, 'errors') };
}

function printStatus(batch: Batch, g: GlobalOptions): void {
  const rows: [string, string][] = [
    ['status', batch.status],
    ['requests', countsText(batch.request_counts)],
    ['endpoint', batch.endpoint],
    ['model', batch.model ?? '-'],
    ['created', isoTime(batch.created_at)],
    ['expires', isoTime(batch.expires_at)],
    ['input file', batch.input_file_id],
    ['output file', batch.output_file_id ?? '-'],
    ['error file', batch.error_file_id ?? '-'],
  ];
  if (batch.metadata && Object.keys(batch.metadata).length > 0) rows.push(['metadata', new URLSearchParams(batch.metadata as Record<string, string>).toString()]);
  // The batch's workflow ID is the batch ID, so the link needs only the UI's address.
  if (g.temporalUi)
    rows.push(['temporal', `${g.temporalUi.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(g.temporalNamespace)}/workflows/${encodeURIComponent(batch.id)}`]);
  printFields(batch.id, rows);
  for (const error of batch.errors?.data ?? []) console.log(`  ${errorLine(error)}`);
}

const errorLine = (error: BatchError) => `${error.line ? `line ${error.line}: ` : ''}${error.code ?? 'error'}: ${error.message ?? ''}`;
