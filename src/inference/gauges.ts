/** What a server's `/metrics` says about its scheduler, summed over its models and engines. */
export type SchedulerGauges = { running: number; waiting: number };

/**
 * The running and waiting gauges of the servers whose scheduler we know, by Prometheus name: vLLM,
 * SGLang, Hugging Face TGI (its current batch size and queue size).
 */
export const SCHEDULER_GAUGES = {
  vllm: { running: 'vllm:num_requests_running', waiting: 'vllm:num_requests_waiting' },
  sglang: { running: 'sglang:num_running_reqs', waiting: 'sglang:num_queue_reqs' },
  tgi: { running: 'tgi_batch_current_size', waiting: 'tgi_queue_size' },
} as const;

/** The gauge families a (simulated) server may export, and `none`. */
export const SCHEDULER_GAUGE_KINDS = [...(Object.keys(SCHEDULER_GAUGES) as (keyof typeof SCHEDULER_GAUGES)[]), 'none'] as const;
export type SchedulerGaugeKind = (typeof SCHEDULER_GAUGE_KINDS)[number];

/**
 * Sums a known server's scheduler gauges out of Prometheus text, over its label sets (models,
 * engines); undefined when it exports none. A server exports one family: the first found is read.
 */
export function parseSchedulerGauges(text: string): SchedulerGauges | undefined {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (Number.isFinite(value)) values.set(match[1]!, (values.get(match[1]!) ?? 0) + value);
  }
  for (const family of Object.values(SCHEDULER_GAUGES)) {
    if (!values.has(family.running) && !values.has(family.waiting)) continue;
    return { running: values.get(family.running) ?? 0, waiting: values.get(family.waiting) ?? 0 };
  }
  return undefined;
}
