import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type OpenAI from 'openai';
import { createScratchDatabase, unique, VBS } from '../support/api';
import { chatLine, waitForBatch } from '../support/batches';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { testStack } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * The `vbs` command line, built, against the real service: the live bar through a real terminal
 * (tmux), Ctrl-C and its question, --json output against the API's own objects, and exit codes.
 */

const MODEL = 'sim-llama-3.1-8b-instruct';
/** 2 requests in service at once, 500 ms each: about 4 requests a second, slow enough to watch a bar move. */
const SLOW_SIMULATOR = { capacity: 2, baseLatencyMs: 500, msPerOutputToken: 0 };
/** Where the closing note quotes a frame of the bar from. */
const FRAME_FILE = '/tmp/vbs-bar-frame.txt';

type Run = { code: number; stdout: string; stderr: string };

describe('the vbs command line', () => {
  const key = unique('cli-key');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vbs-cli-'));
  // A tmux server of this file's own, so no other tmux user's sessions or environment meet it.
  const socket = unique('vbs-test');
  let sut: ServiceUnderTest;
  let client: OpenAI;

  /** `vbs` as a script runs it: no terminal, so no bar; resolves with the exit code instead of rejecting on one. */
  const vbs = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [VBS, ...args], { env: cliEnv(), encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });
  const cliEnv = () => ({ PATH: process.env.PATH ?? '', HOME: workDir, VBS_BASE_URL: sut.service.apiUrl, OPENAI_API_KEY: key });

  const inputFile = (name: string, count: number, content = (i: number) => chatLine(`${name}-${i}`, MODEL, `Question ${i}?`)) => {
    const file = path.join(workDir, `${name}.jsonl`);
    fs.writeFileSync(file, Array.from({ length: count }, (_, i) => content(i)).join('\n') + '\n');
    return file;
  };

  /** Runs `vbs args...` in a fresh 120x20 tmux pane, as a user at a terminal would; the pane then shows `EXIT=<code>`. */
  const inTerminal = (name: string, ...args: string[]) => {
    const script = path.join(workDir, `${name}.sh`);
    const env = Object.entries(cliEnv())
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    // bash goes on to the echo after its child handled Ctrl-C itself; the sleep keeps the final frame up to be read.
    fs.writeFileSync(
      script,
      `cd ${JSON.stringify(workDir)}\nenv ${env} ${JSON.stringify(process.execPath)} ${JSON.stringify(VBS)} ${args.map((a) => JSON.stringify(a)).join(' ')}\necho EXIT=$?\nsleep 600\n`,
    );
    tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '20', `bash ${script}`);
    return {
      keys: (...keys: string[]) => tmux('send-keys', '-t', name, ...keys),
      waitForScreen: async (what: string, match: (screen: string) => boolean, timeoutMs = 60_000) => {
        let screen = '';
        return waitFor(
          () => {
            screen = tmux('capture-pane', '-p', '-t', name);
            return match(screen) ? screen : undefined;
          },
          { timeoutMs, intervalMs: 100, what: `${what} in the terminal` },
        ).catch((err: Error) => {
          throw new Error(`${err.message}; it showed:\n${screen}`);
        });
      },
    };
  };
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  const exitOf = (screen: string) => Number(/^EXIT=(\d+)$/m.exec(screen)?.[1]);
  const batchIdOf = (screen: string) => /^(batch_\S+) submitted/m.exec(screen)?.[1];

  beforeAll(async () => {
    sut = await startServiceUnderTest({ simulator: SLOW_SIMULATOR, env: { API_KEYS: `${key}:${unique('tenant-cli')}` }, apiKey: key });
    client = sut.client;
  });

  afterAll(async () => {
    // A batch left running by a failed assertion would keep the shared Temporal's workers busy for later test files.
    const running = client
      ? await client.batches.list({ limit: 20 }).then(
          ({ data }) => data.filter((b) => b.status === 'in_progress' || b.status === 'validating'),
          () => [],
        )
      : [];
    for (const batch of running) {
      await client.batches.cancel(batch.id).catch(() => undefined);
      await waitForBatch(client, batch.id, (b) => b.status === 'cancelled', 30_000).catch(() => undefined);
    }
    try {
      execFileSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // no session was started
    }
    fs.rmSync(workDir, { recursive: true, force: true });
    expect(await sut?.stop()).toBe(0);
  });

  let completedBatchId: string;

  test('submit --wait shows a live bar (done/total, req/s, ETA) and ends with the output file, downloaded, and exit code 0', async () => {
    const download = path.join(workDir, 'results');
    const terminal = inTerminal('submit', 'submit', inputFile('bar', 40), '--metadata', 'team=cli', '--wait', '--download', download);

    const frame = await terminal.waitForScreen('the bar mid-run', (screen) => {
      const bar = /in_progress \|[^|]+\| (\d+)\/40 done, 0 failed \| ([\d.]+) req\/s \| ETA (\d+s|\d+m\d+s)/.exec(screen);
      // Past the first few requests, so the frame shows a settled rate and ETA.
      return bar !== null && Number(bar[1]) >= 10 && Number(bar[1]) < 40 && Number(bar[2]) > 0;
    });
    fs.writeFileSync(FRAME_FILE, frame.trimEnd() + '\n');

    const final = await terminal.waitForScreen('EXIT=', (screen) => /^EXIT=/m.test(screen));
    const batch = await client.batches.retrieve(batchIdOf(final)!);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 40, completed: 40, failed: 0 }, metadata: { team: 'cli' } });
    expect(final).toContain(`${batch.id} completed: 40/40 done, 0 failed`);
    expect(final).toContain(`output file: ${batch.output_file_id}`);
    expect(final).toContain('error file: -');
    expect(exitOf(final)).toBe(0);
    expect(fs.readFileSync(path.join(download, `${batch.id}_output.jsonl`), 'utf8')).toBe(await (await client.files.content(batch.output_file_id!)).text());
    completedBatchId = batch.id;
  });

  test('--json prints the API objects alone on stdout: status, list, files list', async () => {
    const status = await vbs('status', completedBatchId, '--json');
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(status.stdout)).toEqual(await client.batches.retrieve(completedBatchId));

    const list = await vbs('--json', 'list', '--limit', '5');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual((await client.batches.list({ limit: 5 })).data);
    const completedOnly = JSON.parse((await vbs('list', '--status', 'completed', '--json')).stdout) as { status: string }[];
    expect(completedOnly.map((b) => b.status)).toEqual(completedOnly.map(() => 'completed'));

    const files = await vbs('files', 'list', '--json');
    expect(files.code).toBe(0);
    expect(JSON.parse(files.stdout)).toEqual((await client.files.list()).data);

    // People get a readable page: the batch, its counts and its workflow in the Temporal UI.
    const human = await vbs('status', completedBatchId, '--temporal-ui', 'http://temporal.example:8233');
    expect(human.stdout).toContain('40/40 done, 0 failed');
    expect(human.stdout).toContain(`http://temporal.example:8233/namespaces/default/workflows/${completedBatchId}`);
  });

  test('Ctrl-C during --wait asks; "c" cancels the batch and the command exits 5 once it is cancelled', async () => {
    const terminal = inTerminal('cancel', 'submit', inputFile('to-cancel', 200), '--wait');
    const running = await terminal.waitForScreen('the bar', (screen) => /in_progress \|.*req\/s/.test(screen));
    terminal.keys('C-c');
    await terminal.waitForScreen('the question', (screen) => screen.includes('Cancel the batch [c], stop watching and leave it running [s]'));
    terminal.keys('c', 'Enter');

    const final = await terminal.waitForScreen('EXIT=', (screen) => /^EXIT=/m.test(screen));
    expect(final).toMatch(/cancelled: \d+\/200 done, \d+ failed/);
    expect(exitOf(final)).toBe(5);
    expect((await client.batches.retrieve(batchIdOf(running)!)).status).toBe('cancelled');
  });

  test('Ctrl-C during --wait, then "s", stops watching with exit 130 and leaves the batch running; cancel and watch --json then exit 5', async () => {
    const terminal = inTerminal('stop', 'submit', inputFile('to-leave', 200), '--wait');
    const running = await terminal.waitForScreen('the bar', (screen) => /in_progress \|.*req\/s/.test(screen));
    terminal.keys('C-c');
    await terminal.waitForScreen('the question', (screen) => screen.includes('Cancel the batch [c]'));
    terminal.keys('s', 'Enter');
    const final = await terminal.waitForScreen('EXIT=', (screen) => /^EXIT=/m.test(screen));
    expect(exitOf(final)).toBe(130);
    const id = batchIdOf(running)!;
    expect(final).toContain(`stopped watching; ${id} is in_progress`);
    expect((await client.batches.retrieve(id)).status).toBe('in_progress');

    const cancel = await vbs('cancel', id, '--json');
    expect(cancel.code).toBe(0);
    const answered = JSON.parse(cancel.stdout);
    expect(answered).toMatchObject({ id, object: 'batch', status: 'cancelling' });
    expect(Object.keys(answered).sort()).toEqual(Object.keys(await client.batches.retrieve(id)).sort());

    const watch = await vbs('watch', id, '--json');
    expect(watch).toMatchObject({ code: 5, stderr: '' });
    expect(JSON.parse(watch.stdout)).toEqual(await client.batches.retrieve(id));
    expect(JSON.parse(watch.stdout).status).toBe('cancelled');
  });

  test('exit codes: failed 3, expired 4 (progress lines on stderr without a terminal), unknown ID 1, bad usage 2', async () => {
    const failed = await vbs(
      'submit',
      inputFile('invalid', 3, (i) => `not json ${i}`),
      '--wait',
      '--json',
    );
    expect(failed.code).toBe(3);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      status: 'failed',
      errors: { data: [1, 2, 3].map((line) => expect.objectContaining({ code: 'invalid_json_line', line })) },
    });
    expect((await vbs('status', JSON.parse(failed.stdout).id)).code).toBe(3);

    const expired = await vbs('submit', inputFile('expiring', 200), '--window', '3s', '--wait');
    expect(expired.code).toBe(4);
    expect(expired.stdout).toMatch(/expired: \d+\/200 done/);
    expect(expired.stderr).toMatch(/^batch_\S+ (validating|in_progress): \d+\/\d+ done, \d+ failed$/m);

    const unknown = await vbs('status', 'batch_nope');
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: "vbs: 404 No such batch: 'batch_nope' (invalid_request_error: not_found)\n" });

    for (const args of [
      ['frobnicate'],
      ['status'],
      ['list', '--limit', '0'],
      ['list', '--status', 'done'],
      ['submit', path.join(workDir, 'missing.jsonl')],
      ['submit', 'x', '--metadata', 'novalue'],
      ['retry', 'x', '--codes', 'a,,b'],
      ['results', 'x', '--after', '-1'],
    ]) {
      const usage = await vbs(...args);
      expect({ args, code: usage.code, lines: usage.stderr.trimEnd().split('\n').length }).toEqual({ args, code: 2, lines: 1 });
      expect(usage.stderr).toMatch(/^vbs: /);
    }
  });

  test('submit refuses a bad --window before uploading (exit 2); download into an unwritable --dir fails fast (exit 1)', async () => {
    const uploadsBefore = (await client.files.list()).data.length;
    const window = await vbs('submit', inputFile('window', 1), '--window', '99y');
    expect({ code: window.code, stdout: window.stdout }).toEqual({ code: 2, stdout: '' });
    expect(window.stderr).toMatch(/^vbs: .*--window/);
    expect((await client.files.list()).data.length).toBe(uploadsBefore);

    const done = await vbs('submit', inputFile('download', 1), '--wait', '--json');
    expect(done.code).toBe(0);
    // /proc exists, so the directory is there, but no file can be created in it, not even by root.
    const startedAt = Date.now();
    const download = await vbs('download', (JSON.parse(done.stdout) as { id: string }).id, '--dir', '/proc');
    expect({ code: download.code, stdout: download.stdout }).toEqual({ code: 1, stdout: '' });
    expect(download.stderr).toMatch(/^vbs: .*\/proc/);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
  });

  test('results prints every finished line in input order; retry --codes --wait runs the failed lines again', async () => {
    const content = (i: number) => chatLine(`retried-${i}`, MODEL, `Question ${i}?${i % 3 === 0 ? ' [[sim:400]]' : ''}`);
    const parent = await vbs('submit', inputFile('retried', 6, content), '--wait', '--json');
    expect(parent.code).toBe(0);
    const parentBatch = JSON.parse(parent.stdout) as { id: string; request_counts: unknown };
    expect(parentBatch.request_counts).toEqual({ total: 6, completed: 4, failed: 2 });

    const results = await vbs('results', parentBatch.id);
    // Its stderr in the failure, should it fail: it failed once in a fresh-clone CI run under load (exit 1) and passed alone.
    expect({ code: results.code, stderr: results.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const lines = results.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number } });
    expect(lines.map((line) => line.custom_id)).toEqual(Array.from({ length: 6 }, (_, i) => `retried-${i}`));
    expect(lines.filter((line) => line.response.status_code === 400).map((line) => line.custom_id)).toEqual(['retried-0', 'retried-3']);

    const retried = await vbs('retry', parentBatch.id, '--codes', 'http_400', '--wait', '--json');
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ retry_of: parentBatch.id, status: 'completed', request_counts: { total: 2, completed: 0, failed: 2 } });
    const nothing = await vbs('retry', parentBatch.id, '--codes', 'timeout');
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/^vbs: 409 .*nothing_to_retry/);
  });

  test('queue create, enqueue, request, get, list and delete: --json matches the API', async () => {
    const name = unique('cli-queue');
    const created = await vbs('queue', 'create', name, '--model', MODEL, '--threshold', '2', '--request-kwargs', '{"max_tokens": 4}', '--json');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ object: 'queue', name, model: MODEL, queue_threshold: 2, request_kwargs: { max_tokens: 4 } });

    const items = path.join(workDir, 'items.jsonl');
    fs.writeFileSync(items, `${JSON.stringify([{ role: 'user', content: 'Hello?' }])}\n"What is the capital of France?"\n`);
    const enqueued = await vbs('queue', 'enqueue', items, '--queue', name, '--json');
    expect(enqueued.code).toBe(0);
    const { request_ids: ids } = JSON.parse(enqueued.stdout);
    expect(ids).toHaveLength(2);

    // Two queued requests meet the threshold: they become a batch and finish.
    const api = (route: string) => sut.client.get<unknown>(route);
    const finished = await waitFor(
      async () => {
        const request = JSON.parse((await vbs('queue', 'request', ids[1], '--json')).stdout);
        return request.status === 'completed' ? request : undefined;
      },
      { timeoutMs: 30_000, what: 'the queued request to complete' },
    );
    expect(finished).toEqual(await api(`/requests/${ids[1]}`));
    await waitFor(async () => ((await api(`/queues/${name}`)) as { batches_in_flight: number }).batches_in_flight === 0, { what: "the queue's batch to end" });
    // Settled, so nothing changes between the CLI's answer and the API's.
    expect(JSON.parse((await vbs('queue', 'get', name, '--json')).stdout)).toEqual(await api(`/queues/${name}`));
    // Only the queue made here: `default`, never created, reports the time of the call as its created_at.
    const ours = (queues: { name: string }[]) => queues.find((q) => q.name === name);
    expect(ours(JSON.parse((await vbs('queue', 'list', '--json')).stdout))).toEqual(ours(((await api('/queues')) as { data: { name: string }[] }).data));

    expect(await vbs('queue', 'delete', name)).toMatchObject({ code: 0, stdout: `deleted queue ${name}\n` });
    expect(await vbs('queue', 'get', name)).toMatchObject({ code: 1, stderr: `vbs: 404 No such queue: '${name}' (invalid_request_error: not_found)\n` });
  });

  test('keys create, list and revoke through vbs, on the database directly', async () => {
    const scratch = await createScratchDatabase(testStack());
    try {
      const keys = (...args: string[]) =>
        new Promise<Run>((resolve) =>
          execFile(
            process.execPath,
            [VBS, 'keys', ...args],
            { env: { PATH: process.env.PATH ?? '', DATABASE_URL: scratch.url }, encoding: 'utf8' },
            (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
          ),
        );
      const created = await keys('create', '--tenant', 'acme', '--name', 'ci', '--json');
      expect(created).toMatchObject({ code: 0, stderr: expect.stringContaining('shown only now') });
      const row = JSON.parse(created.stdout);
      expect(row).toMatchObject({
        id: expect.stringMatching(/^key_/),
        tenant_id: 'acme',
        scope: 'tenant',
        name: 'ci',
        revoked_at: null,
        key: expect.stringMatching(/^sk-vbs-/),
      });
      // An operator key needs no tenant (it acts for `operator`); a tenant key does.
      const operator = JSON.parse((await keys('create', '--operator', '--json')).stdout);
      expect(operator).toMatchObject({ tenant_id: 'operator', scope: 'operator', key: expect.stringMatching(/^sk-vbs-/) });

      const listed = JSON.parse((await keys('list', '--json')).stdout);
      expect(listed).toEqual([
        { id: row.id, tenant_id: 'acme', scope: 'tenant', key_prefix: row.key_prefix, name: 'ci', created_at: row.created_at, revoked_at: null },
        { id: operator.id, tenant_id: 'operator', scope: 'operator', key_prefix: operator.key_prefix, name: null, created_at: operator.created_at, revoked_at: null },
      ]);
      expect(JSON.stringify(listed)).not.toContain(row.key);
      expect(JSON.stringify(listed)).not.toContain(operator.key);

      expect((await keys('revoke', row.id)).stdout).toBe(`revoked ${row.id} of tenant acme\n`);
      expect(JSON.parse((await keys('list', '--json')).stdout)[0].revoked_at).toEqual(expect.any(String));
    } finally {
      await scratch.drop();
    }
  });
});
