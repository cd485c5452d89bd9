import type { ClusterConfig } from './config';
import { nodeProcess } from './node';
import { clusterPorts } from './ports';
import { httpOk } from './probes';
import type { ProcessSpec } from './topology';

/** A backend of the cluster: its name (the GPU workers label it so in their logs and metrics) and base URL. */
export type Backend = Readonly<{ name: string; baseUrl: string }>;

/**
 * The vLLM servers, simulated (docker-compose.simulator.yml's `simulator` in place of compose's
 * `vllm`): one per GPU worker, plus `sim-shared`, one server that two GPU workers share, as two
 * hosts may share one big vLLM deployment behind one address.
 */
export function simulatorBackends(config: ClusterConfig): Backend[] {
  const ports = clusterPorts(config.CLUSTER_PORT_BASE).simulators;
  return ports.map((port, i) => ({ name: i === ports.length - 1 ? 'sim-shared' : `sim-${i + 1}`, baseUrl: `http://127.0.0.1:${port}/v1` }));
}

export function simulatorProcesses(config: ClusterConfig): ProcessSpec[] {
  const ports = clusterPorts(config.CLUSTER_PORT_BASE).simulators;
  return simulatorBackends(config).map((backend, i) =>
    nodeProcess(config, 'simulator', {
      name: backend.name,
      role: 'simulator',
      service: 'simulator',
      port: ports[i]!,
      env: { SIMULATOR_PORT: String(ports[i]), SIMULATOR_HOST: '127.0.0.1', LOG_LEVEL: config.LOG_LEVEL },
      ready: () => httpOk(`${backend.baseUrl}/models`),
    }),
  );
}
