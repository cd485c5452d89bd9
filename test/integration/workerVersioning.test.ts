import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import OpenAI from 'openai';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { findTemporalCli, startDevServer, type RunningDevServer } from '../../src/temporal/devServer';
import { unique } from '../support/api';
import { chatLine, expectEachCustomIdOnce, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { freePort } from '../support/ports';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testStack } from '../support/stack';

const MODEL = 'sim-versioning-model';
const DEPLOYMENT = 'vbs-versioning-test';

/**
 * Worker Versioning on a Temporal server of the test's own (a deployment's current version is
 * namespace-wide state the shared server must not keep): an orchestrator of build 1 runs a batch,
 * build 2 is deployed and becomes current; the running batch stays pinned to build 1 to its end,
 * a new one runs on build 2, and the GPU worker (unversioned) serves both.
 */
describe('Worker Versioning: a deploy leaves running batches on the build that started them', () => {
  const stack = testStack();
  const key = unique('sk-versioning');
  let dataDir: string;
  let temporalDir: string;
  let temporalServer: RunningDevServer;
  let simulator: RunningSimulator;
  let temporalClient: Client;
  const processes: ServiceProcess[] = [];

  const common = () => ({ DATA_DIR: dataDir, TEMPORAL_ADDRESS: temporalServer.address, DATABASE_URL: stack.databaseUrl, API_KEYS: `${key}:${unique('versioning')}` });
  const start = async (env: Record<string, string>, entry: 'api' | 'worker') => {
    const process = await startServiceProcess({ ...common(), ...env }, { entry });
    processes.push(process);
    return process;
  };
  const orchestrator = (build: string) => start({ WORKER_ROLES: 'orchestrator', WORKER_DEPLOYMENT_NAME: DEPLOYMENT, WORKER_BUILD_ID: build }, 'worker');
  /** Where the batch workflow runs: its versioning behavior and the build it is on. */
  const versioningOf = async (batchId: string) => {
    const info = (await temporalClient.workflow.getHandle(batchId).describe()).raw.workflowExecutionInfo?.versioningInfo;
    return { behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId, deployment: info?.deploymentVersion?.deploymentName };
  };

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-versioning-'));
    temporalDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-versioning-temporal-'));
    temporalServer = await startDevServer({
      cliPath: findTemporalCli(process.env.TEMPORAL_CLI_PATH),
      dataDir: temporalDir,
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
    });
    temporalClient = new Client({ connection: await Connection.connect({ address: temporalServer.address }) });
    // Slow enough that the first batch is still running when build 2 arrives: 4 at a time, 100 ms each (800 take 20 s).
    simulator = await startSimulator(defaultSimulatorOptions({ models: [MODEL], capacity: 4, baseLatencyMs: 100 }));
    await start({}, 'api');
    await start({ WORKER_ROLES: 'inference', VLLM_BASE_URL: simulator.baseUrl, MAX_INFLIGHT_PER_BACKEND: '4' }, 'worker');
  });

  afterAll(async () => {
    for (const process of processes.reverse()) expect(await process.stop()).toBe(0);
    await temporalClient?.connection.close();
    await simulator?.close();
    await temporalServer?.stop();
    for (const dir of [dataDir, temporalDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the running batch finishes on build 1, pinned; the next runs on build 2; every custom_id once', async () => {
    await orchestrator('build-1');
    const client = new OpenAI({ baseURL: processes[0]!.apiUrl, apiKey: key, maxRetries: 0 });
    const submit = async (prefix: string, count: number, metadata?: Record<string, string>) => {
      const customIds = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      const input = await uploadJsonl(
        client,
        customIds.map((id) => chatLine(id, MODEL, id)),
      );
      const batch = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata });
      return { batch, customIds };
    };
    const expectCompleted = async ({ batch, customIds }: Awaited<ReturnType<typeof submit>>) => {
      const done = await waitForBatch(client, batch.id, (b) => TERMINAL.includes(b.status), 180_000);
      expect(done.status).toBe('completed');
      expectEachCustomIdOnce(customIds, await readJsonl(client, done.output_file_id), await readJsonl(client, done.error_file_id));
    };

    const first = await submit('first', 800);
    await waitForBatch(client, first.batch.id, (b) => b.status === 'in_progress' && b.request_counts!.completed > 0, 60_000);
    const pinned = { behavior: temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED, deployment: DEPLOYMENT };
    expect(await versioningOf(first.batch.id)).toEqual({ ...pinned, buildId: 'build-1' });

    // The deploy: build 2 starts (build 1 keeps running, as in a rainbow deployment) and makes itself current.
    await orchestrator('build-2');
    // First in line at the GPU, so it finishes while the first batch still runs.
    const second = await submit('second', 20, { priority: '1' });
    await expectCompleted(second);
    expect(await versioningOf(second.batch.id)).toEqual({ ...pinned, buildId: 'build-2' });
    // The first was still running after build 2 took over: only its pin keeps it on build 1.
    expect((await client.batches.retrieve(first.batch.id)).status).toBe('in_progress');

    await expectCompleted(first);
    expect(await versioningOf(first.batch.id)).toEqual({ ...pinned, buildId: 'build-1' });
  }, 300_000);
});
