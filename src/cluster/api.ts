import type { ClusterConfig } from './config';
import { appEnv, nodeProcess, type AppEndpoints } from './node';
import { clusterPorts } from './ports';
import { httpOk } from './probes';
import type { ProcessSpec } from './topology';

/** Compose's `api`, replicated: each on its own loopback port, reached by clients through the load balancer. */
export function apiProcesses(config: ClusterConfig, endpoints: AppEndpoints): ProcessSpec[] {
  const ports = clusterPorts(config.CLUSTER_PORT_BASE);
  return ports.api.map((port, i) =>
    nodeProcess(config, 'api', {
      name: `api-${i + 1}`,
      role: 'api',
      service: 'api',
      port,
      env: {
        ...appEnv(config, endpoints),
        PORT: String(port),
        HOST: '127.0.0.1',
        // As compose: /metrics and the detailed /readyz on a port of their own, never on the API's.
        METRICS_PORT: String(ports.apiMetrics[i]),
      },
      ready: () => httpOk(`http://127.0.0.1:${port}/readyz`),
    }),
  );
}
