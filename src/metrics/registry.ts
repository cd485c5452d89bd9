import net from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * The process's metrics: ours (`vbs_*`, src/metrics/instruments.ts) beside prom-client's default
 * process and Node.js metrics, in a registry of our own rather than prom-client's global one.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Where the Temporal SDK's core serves its own worker metrics in this process, once installed. */
let temporalCoreMetricsUrl: string | undefined;

/**
 * A loopback address for the Temporal SDK core's Prometheus exporter (Runtime.install), on a free
 * port. The core serves its metrics there; `renderMetrics` appends them to ours, so each process has
 * one endpoint to scrape.
 */
export async function reserveTemporalCoreMetricsAddress(): Promise<string> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  temporalCoreMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  return `127.0.0.1:${port}`;
}

export const METRICS_CONTENT_TYPE = registry.contentType;

/**
 * The text a scrape gets: our registry, then the Temporal core's metrics when this process runs
 * workers (task slots, poll latencies, schedule-to-start; all prefixed `temporal_`). A core that does
 * not answer costs its part of the page, never the scrape.
 */
export async function renderMetrics(): Promise<string> {
  const [ours, core] = await Promise.all([registry.metrics(), scrapeTemporalCore()]);
  return core ? `${ours}\n${core}` : ours;
}

async function scrapeTemporalCore(): Promise<string | undefined> {
  if (!temporalCoreMetricsUrl) return undefined;
  try {
    const response = await fetch(temporalCoreMetricsUrl, { signal: AbortSignal.timeout(2_000) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}
