import fs from 'node:fs';
import path from 'node:path';
import type { ClusterConfig } from './config';
import { clusterPorts } from './ports';
import { httpOk } from './probes';
import type { ProcessSpec } from './topology';

/**
 * Compose's `temporal-ui`: Temporal's Web UI server (built from github.com/temporalio/ui-server by
 * scripts/ensure-temporal-server.sh, the module ships the built assets) pointed at the cluster's
 * Temporal server, on loopback only (no authentication), its configuration under DATA_DIR/temporal-ui.
 */
export function temporalUi(config: ClusterConfig, temporalAddress: string): { spec: ProcessSpec; url: string } {
  const port = clusterPorts(config.CLUSTER_PORT_BASE).temporalUi;
  const root = path.join(config.DATA_DIR, 'temporal-ui');
  fs.mkdirSync(path.join(root, 'config'), { recursive: true });
  const uiConfig = { temporalGrpcAddress: temporalAddress, host: '127.0.0.1', port, enableUi: true, defaultNamespace: config.TEMPORAL_NAMESPACE, distribution: 'server' };
  // The UI server reads config/base.yaml under its root; JSON is YAML.
  fs.writeFileSync(path.join(root, 'config', 'base.yaml'), JSON.stringify(uiConfig, null, 2) + '\n');
  const command = path.join(config.TEMPORAL_SERVER_DIR, 'bin/temporal-ui-server');
  const url = `http://127.0.0.1:${port}`;
  return {
    spec: {
      name: 'temporal-ui',
      role: 'temporal-ui',
      service: 'temporal-ui',
      port,
      command,
      args: ['--root', root, '--config', 'config', 'start'],
      env: {},
      stopSignal: 'SIGTERM',
      stopGraceMs: 10_000,
      marker: command,
      ready: () => httpOk(url),
    },
    url,
  };
}
