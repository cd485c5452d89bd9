import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { toFile } from 'openai';
import type { BatchEndpoint } from '../domain/endpoints';
import { isTerminal } from '../states/batch';
import { logger } from '../logger';
import { ApiCallError, isAmbiguous, type TenantClient } from './client';
import { customIdsOf, type Ledger, type TrackedBatch } from './ledger';

export const SOAK_MODEL = 'sim-llama-3.1-8b-instruct';
export const SOAK_QUEUE = 'soak';
/** A line with this in its prompt is answered 400 by the simulator: a request's own error. */
const ASK_FOR_400 = '[[sim:400]]';

export type WorkloadSettings = Readonly<{
  /** Batch sizes are drawn log-uniformly from 10 to this. */
  maxLines: number;
  /** Lines of batches not yet final, at most: the workload waits beyond it, so the run ends in a bounded settle. */
  maxPendingLines: number;
  webhookUrl: string;
  /** dist/cli/vbs.js: cancels go through the CLI, as an operator's would. */
  vbsPath: string;
}>;

type Endpoint = Extract<BatchEndpoint, '/v1/chat/completions' | '/v1/completions' | '/v1/embeddings' | '/v1/responses'>;
const ENDPOINTS: readonly Endpoint[] = ['/v1/chat/completions', '/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses'];

const log = logger.child({ component: 'workload' });
const run = promisify(execFile);

/**
 * The users of a soak, through public interfaces only: tenants uploading files and creating batches
 * of mixed sizes and endpoints with the openai SDK (creates replayed with their Idempotency-Key),
 * cancelling with `vbs`, asking for webhooks, short windows that may expire, retries of failed lines,
 * readers paging /results of running batches, and producers posting single requests to a queue.
 * Records everything in the ledger.
 */
export class Workload {
  private sequence = 0;

  constructor(
    private readonly tenants: readonly TenantClient[],
    private readonly ledger: Ledger,
    private readonly settings: WorkloadSettings,
    private readonly random: () => number,
  ) {}

  /** Creates each tenant's queue (once: a replayed create meets 409 queue_exists). */
  async prepare(): Promise<void> {
    for (const client of this.tenants) {
      await client
        .json('POST', '/queues', {
          idempotent: true,
          body: { name: SOAK_QUEUE, model: SOAK_MODEL, endpoint: '/v1/chat/completions', queue_threshold: 200, time_threshold: 5, time_interval: 1 },
        })
        .catch((err: unknown) => {
          if (!(err instanceof ApiCallError && err.code === 'queue_exists')) throw err;
        });
    }
  }

  /** Runs every kind of user until `signal` aborts; returns once they have all stopped. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([
      this.loop(signal, [500, 3_000], () => this.submit()),
      this.loop(signal, [500, 3_000], () => this.submit()),
      this.loop(signal, [2_000, 2_000], () => this.pollStatuses(true)),
      this.loop(signal, [2_000, 6_000], () => this.readResults()),
      ...this.tenants.map((client) => this.loop(signal, [200, 1_500], () => this.produce(client))),
    ]);
  }

  /** Polls the batches not yet final; during the run, a finished batch with failed lines may be retried. */
  async pollStatuses(mayRetry: boolean): Promise<void> {
    for (const batch of this.ledger.nonFinal()) {
      const client = this.clientOf(batch);
      const object = await client.openai.batches.retrieve(batch.id);
      if (!isTerminal(object.status)) continue;
      batch.final = {
        status: object.status,
        outputFileId: object.output_file_id ?? null,
        errorFileId: object.error_file_id ?? null,
        failed: object.request_counts?.failed ?? 0,
        started: object.in_progress_at != null,
      };
      if (mayRetry && object.status === 'completed' && batch.final.failed > 0 && this.random() < 0.5) await this.retry(client, batch);
    }
  }

  private async loop(signal: AbortSignal, gapMs: [number, number], step: () => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      try {
        await step();
      } catch (err) {
        // A user whose call failed through every retry tries something else later; the checker judges the outcome.
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'workload step failed');
      }
      await sleep(gapMs[0] + this.random() * (gapMs[1] - gapMs[0]), undefined, { signal }).catch(() => undefined);
    }
  }

  private async submit(): Promise<void> {
    const pendingLines = this.ledger.nonFinal().reduce((sum, b) => sum + b.lines, 0);
    if (pendingLines >= this.settings.maxPendingLines) return;
    const client = this.pick(this.tenants);
    const tag = `b${++this.sequence}`;
    const lines = Math.round(Math.exp(Math.log(10) + this.random() * (Math.log(this.settings.maxLines) - Math.log(10))));
    const endpoint = this.pick(ENDPOINTS);
    const invalid = this.random() < 0.04;
    const askedToFail = new Set<string>();
    const text: string[] = [];
    for (let i = 0; i < lines; i++) {
      const customId = `${tag}-${i}`;
      const fails = this.random() < 0.01;
      if (fails) askedToFail.add(customId);
      text.push(JSON.stringify({ custom_id: customId, method: 'POST', url: endpoint, body: bodyFor(endpoint, `soak ${customId}${fails ? ` ${ASK_FOR_400}` : ''}`) }));
    }
    if (invalid) text[Math.floor(this.random() * lines)] = '{"custom_id": "broken", this is not JSON';
    const shortWindow = this.random() < 0.1;
    const webhook = this.random() < 0.2;

    const file = await client.openai.files.create(
      { file: await toFile(Buffer.from(text.join('\n') + '\n'), `${tag}.jsonl`), purpose: 'batch' },
      { headers: { 'Idempotency-Key': `upload-${tag}` } },
    );
    const params = {
      input_file_id: file.id,
      endpoint,
      completion_window: shortWindow ? '90s' : '24h',
      metadata: { soak: tag },
      ...(webhook ? { webhook: { url: `${this.settings.webhookUrl}/hooks/${tag}`, secret: `secret-${tag}` } } : {}),
    } as Parameters<typeof client.openai.batches.create>[0];
    const create = () => client.openai.batches.create(params, { headers: { 'Idempotency-Key': `create-${tag}` } });
    const batch = await create();
    this.ledger.batches.set(batch.id, { id: batch.id, tenant: client.tenant, tag, endpoint, lines, askedToFail, invalid, shortWindow, cancel: 'none', webhook });
    log.info({ batch_id: batch.id, tag, lines, endpoint, invalid, short_window: shortWindow, webhook }, 'batch created');

    if (this.random() < 0.2) {
      const replay = await create();
      this.ledger.idempotentReplays += 1;
      if (replay.id !== batch.id) this.ledger.violation('idempotent replay returns the same batch', tag, `first ${batch.id}, replay ${replay.id}`);
    }
    if (this.random() < 0.1) this.cancelLater(client, this.ledger.batches.get(batch.id)!, 1_000 + this.random() * 30_000);
  }

  /** Cancels with `vbs cancel` after `delayMs`: accepted (exit 0), refused (409: already ending), or unknown. */
  private cancelLater(client: TenantClient, batch: TrackedBatch, delayMs: number): void {
    setTimeout(() => {
      run(process.execPath, [this.settings.vbsPath, '--base-url', `${client.baseUrl}/v1`, '--api-key', client.apiKey, '--json', 'cancel', batch.id], { timeout: 60_000 })
        .then(() => {
          batch.cancel = 'accepted';
        })
        .catch((err: { stderr?: string }) => {
          if (!/not_cancellable|Cannot cancel/.test(err.stderr ?? '')) batch.cancel = 'unknown';
        });
    }, delayMs).unref();
  }

  private async retry(client: TenantClient, parent: TrackedBatch): Promise<void> {
    const retried = await client.json<{ id: string }>('POST', `/batches/${parent.id}/retry`, {
      idempotent: true,
      headers: { 'Idempotency-Key': `retry-${parent.id}` },
      body: {},
    });
    const failedIds = customIdsOf(parent).filter((id) => parent.askedToFail.has(id));
    this.ledger.batches.set(retried.id, {
      ...parent,
      id: retried.id,
      customIds: failedIds,
      lines: failedIds.length,
      shortWindow: false,
      cancel: 'none',
      webhook: false,
      retryOf: parent.id,
      final: undefined,
    });
    log.info({ batch_id: retried.id, retry_of: parent.id, lines: failedIds.length }, 'failed lines retried');
  }

  /** A reader paging /results of a running batch: every line it sees is the line it should be, and none twice. */
  private async readResults(): Promise<void> {
    const running = this.ledger.nonFinal().filter((b) => !b.invalid);
    if (running.length === 0) return;
    const batch = this.pick(running);
    const expected = customIdsOf(batch);
    const seen = new Set<number>();
    let after = 0;
    for (let page = 0; page < 5; page++) {
      const results = await this.clientOf(batch)
        .json<{ data: Array<{ line: number; result: { custom_id: string } }>; last_line: number; has_more: boolean }>(
          'GET',
          `/batches/${batch.id}/results?after=${after}&limit=200`,
          {
            idempotent: true,
          },
        )
        .catch((err: unknown) => {
          // Once the batch has ended its lines are read from its files instead (409 results_in_files).
          if (err instanceof ApiCallError && err.code === 'results_in_files') return undefined;
          throw err;
        });
      if (!results) return;
      for (const item of results.data) {
        if (seen.has(item.line)) this.ledger.violation('results pages list each line once', batch.id, `line ${item.line} twice`);
        seen.add(item.line);
        if (expected[item.line - 1] !== item.result.custom_id)
          this.ledger.violation('results pages show the line at its place', batch.id, `line ${item.line} is ${item.result.custom_id}, not ${expected[item.line - 1]}`);
      }
      if (!results.has_more || results.data.length === 0) return;
      after = results.last_line;
    }
  }

  /** A producer posting 1–20 single requests to its tenant's queue; a post with no answer leaves its requests unknown. */
  private async produce(client: TenantClient): Promise<void> {
    const count = 1 + Math.floor(this.random() * 20);
    const items = Array.from({ length: count }, () => {
      const customId = `q${++this.sequence}`;
      return { custom_id: customId, body: bodyFor('/v1/chat/completions', `queued ${customId}`) };
    });
    try {
      const answer = await client.json<{ request_ids: string[] }>('POST', `/requests?queue=${SOAK_QUEUE}`, { idempotent: false, body: { data: items } });
      answer.request_ids.forEach((requestId, i) => this.ledger.queued.set(items[i]!.custom_id, { tenant: client.tenant, requestId }));
    } catch (err) {
      if (isAmbiguous(err)) for (const item of items) this.ledger.queuedAmbiguous.add(item.custom_id);
    }
  }

  private clientOf(batch: TrackedBatch): TenantClient {
    return this.tenants.find((c) => c.tenant === batch.tenant)!;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }
}

/** A small request body for `endpoint`; the prompt names the line, so that a fault marker in it reaches the simulator. */
export function bodyFor(endpoint: Endpoint, prompt: string): Record<string, unknown> {
  switch (endpoint) {
    case '/v1/chat/completions':
      return { model: SOAK_MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 16 };
    case '/v1/completions':
      return { model: SOAK_MODEL, prompt, max_tokens: 16 };
    case '/v1/embeddings':
      return { model: SOAK_MODEL, input: prompt };
    case '/v1/responses':
      return { model: SOAK_MODEL, input: prompt, max_output_tokens: 16 };
  }
}
