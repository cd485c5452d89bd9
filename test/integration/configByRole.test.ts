import { createScratchDatabase, jsonApi, unique } from '../support/api';
import { startServiceProcess, type Entry, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';

/**
 * Configuration by role (README: Configuration) with the built entry points as real processes: each
 * role reads its own settings; the API answers queue calls with the values the orchestrator published;
 * a process given a published setting it does not own is refused at start only when its value differs.
 * On a database of its own: the values published here would otherwise reach every other test's API.
 */
describe('configuration by role', () => {
  const stack = testStack();
  const key = unique('sk-roles');
  const tenant = unique('roles');
  let scratch: { url: string; drop(): Promise<void> };
  const running: ServiceProcess[] = [];
  let api: ServiceProcess;
  let orchestrator: ServiceProcess;

  const start = async (entry: Entry, env: Record<string, string>) => {
    const process = await startServiceProcess(
      { TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: scratch.url, API_KEYS: `${key}:${tenant}`, ...env },
      { entry, readyTimeoutMs: 60_000 },
    );
    running.push(process);
    return process;
  };
  /** The one line a refused start prints, from the error `startServiceProcess` throws with the process's output. */
  const refusal = (entry: Entry, env: Record<string, string>) =>
    start(entry, env).then(
      () => {
        throw new Error(`${entry} started`);
      },
      (err: Error) => err.message.split('\n').filter((line) => line.startsWith('conflicting configuration: ')),
    );
  const call = (method: string, route: string, body?: unknown) => jsonApi(api.apiUrl, key)(method, route, body);
  const orchestratorEnv = { WORKER_ROLES: 'orchestrator', MAX_REQUESTS_PER_BATCH: '7', QUEUE_THRESHOLD: '77', QUEUE_MODEL: 'model-of-the-orchestrator' };

  beforeAll(async () => {
    scratch = await createScratchDatabase(stack);
  });
  afterAll(async () => {
    for (const process of running.reverse()) if (process.child.exitCode === null) expect(await process.stop()).toBe(0);
    await scratch?.drop();
  });

  test("an API is not refused for other roles' settings, even invalid ones; before any orchestrator started, queue calls answer 503", async () => {
    api = await start('api', { QUEUE_THRESHOLD: '77', CHUNK_SIZE: 'not-a-number', VLLM_BASE_URL: 'ftp://not-a-backend' });
    const queue = await call('GET', '/queues/default');
    expect(queue).toMatchObject({ status: 503, body: { error: { code: 'orchestrator_unavailable', type: 'server_error' } } });
    expect(queue.headers.get('retry-after')).not.toBeNull();
    expect((await call('POST', '/requests', { data: ['Hello'] })).status).toBe(503);
    expect((await call('GET', '/batches')).status).toBe(200);
  });

  test("once the orchestrator started, the API answers with the orchestrator's values, not its own environment's", async () => {
    orchestrator = await start('worker', orchestratorEnv);
    expect((await call('GET', '/queues/default')).body).toMatchObject({ queue_threshold: 77, max_batch_size: 77, model: 'model-of-the-orchestrator' });
    // A max_batch_size above the orchestrator's MAX_REQUESTS_PER_BATCH is refused on create, as before.
    const refused = await call('POST', '/queues', { name: 'big', max_batch_size: 8 });
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'invalid_value', param: 'max_batch_size' } } });
    expect(refused.body.error).toMatchObject({ message: expect.stringContaining('at most 7 (MAX_REQUESTS_PER_BATCH)') });
    expect((await call('POST', '/queues', { name: 'small', max_batch_size: 7 })).status).toBe(200);
    expect((await call('POST', '/queues/small', { max_batch_size: 8 })).status).toBe(400);
  });

  test('an orchestrator restarted with another value: the running API uses it from then on', async () => {
    expect(await orchestrator.stop()).toBe(0);
    orchestrator = await start('worker', { ...orchestratorEnv, MAX_REQUESTS_PER_BATCH: '9' });
    expect(orchestrator.output()).toContain('"setting":"MAX_REQUESTS_PER_BATCH","from":7,"to":9');
    expect((await call('POST', '/queues', { name: 'big', max_batch_size: 8 })).status).toBe(200);
  });

  test("a process given a published setting it does not own is refused at start only when its value differs from the owner's", async () => {
    expect(await refusal('api', { QUEUE_THRESHOLD: '78', MAX_REQUESTS_PER_BATCH: '9' })).toEqual([
      expect.stringMatching(/^conflicting configuration: QUEUE_THRESHOLD=78 here, but the orchestrator \(.+\) runs with 77\. /),
    ]);
    expect(await refusal('worker', { WORKER_ROLES: 'inference', VLLM_BASE_URL: stack.simulatorUrl, DEFAULT_MODEL: 'another-model' })).toEqual([
      expect.stringMatching(/^conflicting configuration: DEFAULT_MODEL=another-model here, but the orchestrator \(.+\) runs with it unset\. /),
    ]);
    // The same values, as one environment file shared by every role gives them: no conflict.
    const agreeing = await start('api', { ...orchestratorEnv, MAX_REQUESTS_PER_BATCH: '9' });
    expect(await agreeing.stop()).toBe(0);
  });
});
