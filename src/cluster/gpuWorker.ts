import type { ClusterConfig } from './config';
import { appEnv, nodeProcess, type AppEndpoints } from './node';
import { clusterPorts } from './ports';
import { httpOk } from './probes';
import type { Backend } from './simulator';
import type { ProcessSpec } from './topology';

/**
 * Compose's `gpu-worker`, one per GPU host: each in front of its own backend (sim-1, sim-2, sim-3);
 * the last two also serve sim-shared, so one backend is dispatched to by two workers at once.
 */
export function gpuWorkerProcesses(config: ClusterConfig, endpoints: AppEndpoints, backends: readonly Backend[]): ProcessSpec[] {
  const shared = backends[backends.length - 1]!;
  const metricsPorts = clusterPorts(config.CLUSTER_PORT_BASE).gpuWorkerMetrics;
  return metricsPorts.map((metricsPort, i) => {
    const own = [backends[i]!];
    const served = i === 0 ? own : [...own, shared];
    return nodeProcess(config, 'worker', {
      name: `gpu-worker-${i + 1}`,
      role: 'gpu-worker',
      service: 'gpu-worker',
      port: metricsPort,
      env: {
        ...appEnv(config, endpoints),
        WORKER_ROLES: 'inference',
        METRICS_PORT: String(metricsPort),
        // `name=url`: the backend's label in the worker's logs and metrics.
        VLLM_BASE_URL: served.map((b) => `${b.name}=${b.baseUrl}`).join(','),
      },
      ready: () => httpOk(`http://127.0.0.1:${metricsPort}/readyz`),
    });
  });
}
