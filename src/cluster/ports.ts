/**
 * Every port of the cluster but the load balancer's: CLUSTER_PORT_BASE plus a fixed offset, all on
 * loopback. Fixed offsets rather than ports found free at start-up, so that a process restarted by
 * the supervisor (or by a soak's nemesis) comes back where its clients look for it.
 */
export type ClusterPorts = Readonly<{
  postgres: number;
  temporal: Readonly<Record<'frontend' | 'history' | 'matching' | 'worker', { grpc: number; membership: number }> & { frontendHttp: number }>;
  haproxyStats: number;
  temporalUi: number;
  api: readonly number[];
  apiMetrics: readonly number[];
  orchestratorMetrics: readonly number[];
  gpuWorkerMetrics: readonly number[];
  simulators: readonly number[];
}>;

/** How many processes of each replicated role the cluster runs (docker-compose.yml scaled out). */
export const REPLICAS = { api: 2, orchestrator: 2, gpuWorker: 3, simulator: 4 } as const;

export function clusterPorts(base: number): ClusterPorts {
  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => base + from + i);
  return {
    postgres: base,
    temporal: {
      frontend: { grpc: base + 1, membership: base + 2 },
      frontendHttp: base + 3,
      history: { grpc: base + 4, membership: base + 5 },
      matching: { grpc: base + 6, membership: base + 7 },
      worker: { grpc: base + 8, membership: base + 9 },
    },
    haproxyStats: base + 10,
    temporalUi: base + 24,
    api: range(11, REPLICAS.api),
    apiMetrics: range(13, REPLICAS.api),
    orchestratorMetrics: range(15, REPLICAS.orchestrator),
    gpuWorkerMetrics: range(17, REPLICAS.gpuWorker),
    simulators: range(20, REPLICAS.simulator),
  };
}
