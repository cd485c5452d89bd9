import type { ClusterConfig } from './config';
import { appEnv, nodeProcess, type AppEndpoints } from './node';
import { clusterPorts } from './ports';
import { httpOk } from './probes';
import type { ProcessSpec } from './topology';

/** Compose's `orchestrator`, replicated: the batch and dispatcher workflows and the light activities. */
export function orchestratorProcesses(config: ClusterConfig, endpoints: AppEndpoints): ProcessSpec[] {
  return clusterPorts(config.CLUSTER_PORT_BASE).orchestratorMetrics.map((metricsPort, i) =>
    nodeProcess(config, 'worker', {
      name: `orchestrator-${i + 1}`,
      role: 'orchestrator',
      service: 'orchestrator',
      port: metricsPort,
      env: { ...appEnv(config, endpoints), WORKER_ROLES: 'orchestrator', METRICS_PORT: String(metricsPort) },
      ready: () => httpOk(`http://127.0.0.1:${metricsPort}/readyz`),
    }),
  );
}
