import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apiProcesses } from '../../src/cluster/api';
import { loadClusterConfig } from '../../src/cluster/config';
import { gpuWorkerProcesses } from '../../src/cluster/gpuWorker';
import { orchestratorProcesses } from '../../src/cluster/orchestrator';
import { clusterPorts } from '../../src/cluster/ports';
import { simulatorBackends, simulatorProcesses } from '../../src/cluster/simulator';
import { ROLES, START_ORDER } from '../../src/cluster/topology';

/** The layout of `npm run cluster` (README: Production topology), without starting anything. */
describe('cluster topology', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vllm-batch-topology-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const config = loadClusterConfig({ DATA_DIR: dataDir, CLUSTER_PORT_BASE: '30000', PORT: '4080' });
  const endpoints = { databaseUrl: 'postgres://u:p@127.0.0.1:30000/batch', temporalAddress: '127.0.0.1:30001', extraEnv: { API_KEYS: 'k:t' } };
  const backends = simulatorBackends(config);

  test('every port is distinct and within the 32 above CLUSTER_PORT_BASE', () => {
    const ports = JSON.stringify(clusterPorts(30000))
      .match(/\d+/g)!
      .map(Number)
      .filter((n) => n >= 30000);
    expect(new Set(ports).size).toBe(ports.length);
    expect(Math.max(...ports)).toBeLessThan(30000 + 32);
  });

  test('every role starts exactly once in the start order', () => {
    expect(START_ORDER.flat().sort()).toEqual([...ROLES].sort());
  });

  test('each GPU worker fronts its own backend, and exactly two share one more', () => {
    const served = gpuWorkerProcesses(config, endpoints, backends).map((p) => p.env.VLLM_BASE_URL!.split(',').map((entry) => entry.split('=')[0]));
    expect(served).toEqual([['sim-1'], ['sim-2', 'sim-shared'], ['sim-3', 'sim-shared']]);
    expect(simulatorProcesses(config).map((p) => p.name)).toEqual(['sim-1', 'sim-2', 'sim-3', 'sim-shared']);
  });

  test('a soak reroutes the GPU workers to its fault proxies, backend by backend', () => {
    const proxied = backends.map((b, i) => ({ ...b, baseUrl: `http://127.0.0.1:${31000 + i}/v1` }));
    expect(gpuWorkerProcesses(config, endpoints, proxied)[1]!.env.VLLM_BASE_URL).toBe('sim-2=http://127.0.0.1:31001/v1,sim-shared=http://127.0.0.1:31003/v1');
  });

  test("our processes get compose's environment: the cluster's PostgreSQL and Temporal, what a soak adds, and their role", () => {
    const processes = [...apiProcesses(config, endpoints), ...orchestratorProcesses(config, endpoints), ...gpuWorkerProcesses(config, endpoints, backends)];
    expect(new Set(processes.map((p) => p.name)).size).toBe(processes.length);
    for (const p of processes)
      expect(p.env).toMatchObject({ DATABASE_URL: endpoints.databaseUrl, TEMPORAL_ADDRESS: endpoints.temporalAddress, TEMPORAL_NAMESPACE: 'default', API_KEYS: 'k:t' });
    expect(processes.map((p) => p.env.WORKER_ROLES ?? 'api')).toEqual(['api', 'api', 'orchestrator', 'orchestrator', 'inference', 'inference', 'inference']);
  });
});
