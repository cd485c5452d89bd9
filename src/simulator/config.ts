import type { BatchEndpoint } from '../domain/endpoints';
import type { SchedulerGaugeKind } from '../inference/gauges';
import type { Settings } from '../config';
import { namesOf, parseSettings } from '../config/declare';
import { CONSTRAINTS, SETTINGS } from '../config/settings';

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
  /** The scheduler gauges it exports at /metrics, as that server names them, or none. */
  gauges: SchedulerGaugeKind;
  baseLatencyMs: number;
  msPerOutputToken: number;
  msPerPromptToken: number;
  faults: FaultRates;
  retryAfterSeconds: number;
  seed: number;
};

/** The simulator's settings but where (and as how many GPUs) it listens and its log level: what each GPU serves and how. */
type Listening = 'SIMULATOR_PORT' | 'SIMULATOR_HOST' | 'SIMULATOR_GPUS' | 'LOG_LEVEL';
type Behaviour = Omit<Settings<'simulator'>, Listening>;
const LISTENING: readonly string[] = ['SIMULATOR_PORT', 'SIMULATOR_HOST', 'SIMULATOR_GPUS', 'LOG_LEVEL'] satisfies Listening[];
const BEHAVIOUR = namesOf(SETTINGS, ['simulator']).filter((name) => !LISTENING.includes(name)) as (keyof Behaviour)[];

/** What a simulator serves, from the SIMULATOR_* settings (README: Configuration) of `npm run simulator` or of `npm start`'s embedded one. */
export function simulatorOptions(e: Behaviour): SimulatorOptions {
  return {
    models: e.SIMULATOR_MODELS,
    endpoints: e.SIMULATOR_ENDPOINTS,
    capacity: e.SIMULATOR_CAPACITY,
    gauges: e.SIMULATOR_GAUGES,
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

/** A simulator's options from `env`'s SIMULATOR_* settings alone (a test's, or a bench's, own simulator). */
export const loadSimulatorOptions = (env: NodeJS.ProcessEnv): SimulatorOptions => simulatorOptions(parseSettings(SETTINGS, BEHAVIOUR, env, CONSTRAINTS));

/** Defaults as if no SIMULATOR_* variable were set; tests override only what they exercise. */
export function defaultSimulatorOptions(overrides: Partial<Omit<SimulatorOptions, 'faults'>> & { faults?: Partial<FaultRates> } = {}): SimulatorOptions {
  const defaults = loadSimulatorOptions({});
  return { ...defaults, ...overrides, faults: { ...defaults.faults, ...overrides.faults } };
}
