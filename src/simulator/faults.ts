import type { FaultRates } from './config';
import { mulberry32, sha256Hex } from './random';

export const FAULT_KINDS = ['429', '500', 'reset', 'hang', 'malformed', '400'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** `[[sim:500]]` always fails; `[[sim:500x2]]` fails the first 2 sightings of that exact body, so retries can win. */
const MARKER = /\[\[sim:(429|500|reset|hang|malformed|400)(?:x(\d+))?\]\]/;

/** Decides which fault, if any, a request suffers: prompt markers first, then the configured rates. */
export class FaultInjector {
  private readonly random: () => number;
  private readonly sightings = new Map<string, number>();
  private readonly injected = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  private readonly rateTable: Array<[FaultKind, number]>;

  constructor(rates: FaultRates, seed: number) {
    this.random = mulberry32(seed);
    this.rateTable = [
      ['429', rates.rate429],
      ['500', rates.rate500],
      ['reset', rates.rateReset],
      ['hang', rates.rateHang],
      ['malformed', rates.rateMalformed],
    ];
  }

  decide(promptText: string, rawBody: string): FaultKind | undefined {
    const fault = this.fromMarker(promptText, rawBody) ?? this.fromRates();
    if (fault) this.injected[fault] += 1;
    return fault;
  }

  counts(): Record<string, number> {
    return { ...this.injected };
  }

  private fromMarker(promptText: string, rawBody: string): FaultKind | undefined {
    const match = MARKER.exec(promptText);
    if (!match) return undefined;
    const kind = match[1] as FaultKind;
    if (match[2] === undefined) return kind;
    const key = sha256Hex(rawBody);
    const seen = (this.sightings.get(key) ?? 0) + 1;
    this.sightings.set(key, seen);
    return seen <= Number(match[2]) ? kind : undefined;
  }

  private fromRates(): FaultKind | undefined {
    const draw = this.random();
    let threshold = 0;
    for (const [kind, rate] of this.rateTable) {
      threshold += rate;
      if (draw < threshold) return kind;
    }
    return undefined;
  }
}
