import { z } from 'zod';
import { envInt, envList, parseEnv } from '../config/env';
import { BATCH_ENDPOINTS, parseEndpointList, type BatchEndpoint } from '../domain/endpoints';

export type FaultRates = {
  rate429: number;
  rate500: number;
  rateReset: number;
  rateHang: number;
  rateMalformed: number;
};

export type SimulatorOptions = {
  models: string[];
  /** The inference routes it serves (and lists in /openapi.json): a vLLM server serves its model kind's only. */
  endpoints: BatchEndpoint[];
  capacity: number;
  baseLatencyMs: number;
  msPerOutputToken: number;
  msPerPromptToken: number;
  faults: FaultRates;
  retryAfterSeconds: number;
  seed: number;
};

const DEFAULT_MODEL = 'sim-llama-3.1-8b-instruct';

const rate = z.coerce.number().min(0).max(1).default(0);
const milliseconds = (fallback: number) => z.coerce.number().min(0).default(fallback);

const schema = z
  .object({
    SIMULATOR_MODELS: envList.transform((models) => (models.length > 0 ? models : [DEFAULT_MODEL])),
    // Endpoint paths, or generation / pooling; empty: every batch endpoint.
    SIMULATOR_ENDPOINTS: envList.transform((entries, ctx) => {
      if (entries.length === 0) return [...BATCH_ENDPOINTS];
      const parsed = parseEndpointList(entries);
      if ('endpoints' in parsed) return parsed.endpoints;
      ctx.addIssue({ code: 'custom', message: `unknown endpoint "${parsed.unknown}"` });
      return z.NEVER;
    }),
    SIMULATOR_CAPACITY: envInt(64, 1),
    SIMULATOR_BASE_LATENCY_MS: milliseconds(15),
    SIMULATOR_MS_PER_OUTPUT_TOKEN: milliseconds(0.2),
    SIMULATOR_MS_PER_PROMPT_TOKEN: milliseconds(0.01),
    SIMULATOR_RATE_429: rate,
    SIMULATOR_RATE_500: rate,
    SIMULATOR_RATE_RESET: rate,
    SIMULATOR_RATE_HANG: rate,
    SIMULATOR_RATE_MALFORMED: rate,
    SIMULATOR_RETRY_AFTER_S: envInt(1),
    SIMULATOR_SEED: envInt(42),
  })
  // One uniform draw picks at most one fault, so the rates partition [0, 1).
  .refine((e) => e.SIMULATOR_RATE_429 + e.SIMULATOR_RATE_500 + e.SIMULATOR_RATE_RESET + e.SIMULATOR_RATE_HANG + e.SIMULATOR_RATE_MALFORMED <= 1, {
    message: 'SIMULATOR_RATE_* must sum to at most 1',
  });

export function loadSimulatorOptions(env: NodeJS.ProcessEnv): SimulatorOptions {
  const e = parseEnv(schema, env);
  return {
    models: e.SIMULATOR_MODELS,
    endpoints: e.SIMULATOR_ENDPOINTS,
    capacity: e.SIMULATOR_CAPACITY,
    baseLatencyMs: e.SIMULATOR_BASE_LATENCY_MS,
    msPerOutputToken: e.SIMULATOR_MS_PER_OUTPUT_TOKEN,
    msPerPromptToken: e.SIMULATOR_MS_PER_PROMPT_TOKEN,
    faults: {
      rate429: e.SIMULATOR_RATE_429,
      rate500: e.SIMULATOR_RATE_500,
      rateReset: e.SIMULATOR_RATE_RESET,
      rateHang: e.SIMULATOR_RATE_HANG,
      rateMalformed: e.SIMULATOR_RATE_MALFORMED,
    },
    retryAfterSeconds: e.SIMULATOR_RETRY_AFTER_S,
    seed: e.SIMULATOR_SEED,
  };
}

/** Defaults as if no SIMULATOR_* variable were set; tests override only what they exercise. */
export function defaultSimulatorOptions(overrides: Partial<Omit<SimulatorOptions, 'faults'>> & { faults?: Partial<FaultRates> } = {}): SimulatorOptions {
  const defaults = loadSimulatorOptions({});
  return { ...defaults, ...overrides, faults: { ...defaults.faults, ...overrides.faults } };
}
