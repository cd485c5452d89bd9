import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { defaultSimulatorOptions } from '../../src/simulator/config';
import { startSimulator, type RunningSimulator } from '../../src/simulator/server';
import { startServiceProcess, type Entry, type ServiceProcess } from './serviceProcess';
import { testStack } from './stack';

/** Overrides of the simulator's defaults, as `defaultSimulatorOptions` takes them. */
export type SimulatorOverrides = NonNullable<Parameters<typeof defaultSimulatorOptions>[0]>;

export type ServiceUnderTestOptions = {
  /** `'shared'` (the default): the stack's simulator. Otherwise a simulator of the test's own, with these overrides. */
  simulator?: SimulatorOverrides | 'shared';
  /** On top of DATA_DIR, TEMPORAL_ADDRESS, DATABASE_URL and VLLM_BASE_URL; may override any of them. */
  env?: Record<string, string>;
  /** The built entry point to run (default `start`). */
  entry?: Entry;
  /** The key `client` sends (default: any, for an open API). */
  apiKey?: string;
};

export type ServiceUnderTest<Simulator extends RunningSimulator | undefined = RunningSimulator | undefined> = {
  service: ServiceProcess;
  /** The official OpenAI SDK pointed at the service, without retries of its own, sending `apiKey`. */
  client: OpenAI;
  /** The same as `client`, sending another key. */
  clientAs(apiKey: string): OpenAI;
  /** The simulator of the test's own; undefined on the shared one. */
  simulator: Simulator;
  dataDir: string;
  /** Stops the service (SIGINT), closes the own simulator, removes DATA_DIR; returns the service's exit code. */
  stop(): Promise<number | null>;
};

/**
 * The built service as a real process on the shared stack (Temporal, PostgreSQL, simulator from
 * globalSetup), with a DATA_DIR of its own and, optionally, a simulator of its own.
 */
export function startServiceUnderTest(options: ServiceUnderTestOptions & { simulator: SimulatorOverrides }): Promise<ServiceUnderTest<RunningSimulator>>;
export function startServiceUnderTest(options?: ServiceUnderTestOptions): Promise<ServiceUnderTest>;
export async function startServiceUnderTest(options: ServiceUnderTestOptions = {}): Promise<ServiceUnderTest> {
  const stack = testStack();
  const { simulator: simulatorOption = 'shared', env = {}, entry = 'start', apiKey = 'unused' } = options;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-service-'));
  let simulator: RunningSimulator | undefined;
  try {
    if (simulatorOption !== 'shared') simulator = await startSimulator(defaultSimulatorOptions(simulatorOption));
    const service = await startServiceProcess(
      {
        DATA_DIR: dataDir,
        TEMPORAL_ADDRESS: stack.temporalAddress,
        DATABASE_URL: stack.databaseUrl,
        VLLM_BASE_URL: simulator?.baseUrl ?? stack.simulatorUrl,
        ...env,
      },
      { entry },
    );
    const clientAs = (key: string) => new OpenAI({ baseURL: service.apiUrl, apiKey: key, maxRetries: 0 });
    return {
      service,
      client: clientAs(apiKey),
      clientAs,
      simulator,
      dataDir,
      async stop() {
        try {
          return await service.stop();
        } finally {
          await simulator?.close();
          fs.rmSync(dataDir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await simulator?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
