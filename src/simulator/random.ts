import { createHash } from 'node:crypto';

/** mulberry32: tiny and seedable; reproducible sequences matter here, statistical quality does not. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A PRNG whose whole stream is a function of `key`, so generated output is reproducible per request. */
export function keyedRandom(key: string): { hex: string; random: () => number } {
  const hex = sha256Hex(key);
  return { hex, random: mulberry32(Number.parseInt(hex.slice(0, 8), 16)) };
}
