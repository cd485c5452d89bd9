import readline from 'node:readline';
import cliProgress from 'cli-progress';
import { APIError, type OpenAI } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { isTerminal } from '../states/batch';
import { countsText } from './output';

const POLL_MS = 1000;
/** The rate (and so the ETA) is measured over this much recent history: steady, yet quick to follow a change of pace. */
const RATE_WINDOW_MS = 10_000;

export type WatchOutcome = { batch: Batch; stoppedWatching: boolean };

/** How progress is shown: a live bar on a terminal, a line per change on a pipe, nothing under --json. */
type Display = { update(batch: Batch): void; stop(): void };

/**
 * Polls the batch until it ends and shows its progress. Ctrl-C asks, on a terminal, whether to
 * cancel the batch (then it is watched until it has ended `cancelled`) or to stop watching (it keeps
 * running); without a terminal to ask on, Ctrl-C stops watching.
 */
export async function watchBatch(client: OpenAI, id: string, options: { json: boolean }): Promise<WatchOutcome> {
  const onTerminal = !options.json && process.stdout.isTTY === true;
  const display = options.json ? silent : onTerminal ? liveBar() : changeLines();
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onSigint = () => {
    interrupted = true;
    wake?.();
  };
  process.on('SIGINT', onSigint);
  try {
    for (;;) {
      const batch = await client.batches.retrieve(id);
      display.update(batch);
      if (isTerminal(batch.status)) return { batch, stoppedWatching: false };
      if (!interrupted) await new Promise<void>((resolve) => setTimeout((wake = resolve), POLL_MS));
      if (!interrupted) continue;
      interrupted = false;
      display.stop();
      // Once cancelling, there is nothing left to ask: the batch is already on its way to `cancelled`.
      const choice = onTerminal && process.stdin.isTTY && batch.status !== 'cancelling' ? await ask() : 'stop';
      if (choice === 'stop') return { batch, stoppedWatching: true };
      // A 409: it ended while the question was up; the next poll shows how.
      if (choice === 'cancel') await client.batches.cancel(id).catch((err: unknown) => ignoreStatus(err, 409));
    }
  } finally {
    process.off('SIGINT', onSigint);
    display.stop();
  }
}

function ignoreStatus(err: unknown, status: number): void {
  if (!(err instanceof APIError && err.status === status)) throw err;
}

type Choice = 'cancel' | 'stop' | 'watch';

/** One question on the terminal; a second Ctrl-C (or Ctrl-D) while it is asked means stop watching. */
function ask(): Promise<Choice> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) => {
    // Resolved before closing: close() fires the 'close' listener, which would otherwise answer 'stop' first.
    const answer = (choice: Choice) => {
      resolve(choice);
      rl.close();
    };
    rl.on('SIGINT', () => answer('stop')).on('close', () => resolve('stop'));
    rl.question('Cancel the batch [c], stop watching and leave it running [s], or keep watching [Enter]? ', (text) => {
      const first = text.trim().toLowerCase()[0];
      answer(first === 'c' ? 'cancel' : first === 's' ? 'stop' : 'watch');
    });
  });
}

const silent: Display = { update: () => undefined, stop: () => undefined };

/** One line on stderr per change of status or counts: readable in CI logs, never on stdout (that is for results). */
function changeLines(): Display {
  let last = '';
  return {
    update(batch) {
      const line = `${batch.id} ${batch.status}: ${countsText(batch.request_counts)}`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
    },
    stop: () => undefined,
  };
}

/** The bar: status, done/total, failed, requests per second and ETA, redrawn in place by cli-progress. */
function liveBar(): Display {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stdout,
      format: '{status} |{bar}| {done}/{count} done, {failed} failed | {rate} req/s | ETA {remaining}',
      barsize: 30,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  const samples: { at: number; done: number }[] = [];
  return {
    update(batch) {
      const { total = 0, completed = 0, failed = 0 } = batch.request_counts ?? {};
      const done = completed + failed;
      const now = Date.now();
      samples.push({ at: now, done });
      while (samples.length > 2 && samples[0]!.at < now - RATE_WINDOW_MS) samples.shift();
      const first = samples[0]!;
      const rate = now > first.at ? ((done - first.done) * 1000) / (now - first.at) : 0;
      const remaining = total > 0 && done >= total ? '0s' : rate > 0 && total > 0 ? duration((total - done) / rate) : '--';
      // Not `eta`: cli-progress fills that name itself, with raw seconds.
      const payload = { status: batch.status, done, count: total, failed, rate: rate.toFixed(1), remaining };
      // The bar needs a total above zero; while validating, the count is not known yet.
      if (!running) bar.start(Math.max(total, 1), done, payload);
      else bar.setTotal(Math.max(total, 1));
      bar.update(done, payload);
      running = true;
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
