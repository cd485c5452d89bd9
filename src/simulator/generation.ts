import { keyedRandom } from './random';

// Ten words a line (prettier-ignore: prettier would put each on its own).
// prettier-ignore
const VOCABULARY = [
  'batch', 'token', 'model', 'queue', 'vector', 'stream', 'layer', 'cache', 'prompt', 'reply',
  'kernel', 'tensor', 'weight', 'signal', 'window', 'result', 'sample', 'answer', 'engine', 'river',
  'stone', 'cloud', 'light', 'north', 'quiet', 'swift', 'amber', 'orbit', 'pixel', 'delta',
];

// Natural reply lengths vary per prompt so that throughput benchmarks see a spread, not one size.
const NATURAL_MIN_TOKENS = 8;
const NATURAL_MAX_TOKENS = 256;

/** The usual rule of thumb for English with BPE tokenizers; good enough for plausible `usage`. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

export type Generated = { text: string; tokens: number; finishReason: 'stop' | 'length' };

/** One word per output token, seeded by `key`: the same request always yields the same reply. */
export function generateText(key: string, maxTokens: number): Generated {
  const { hex, random } = keyedRandom(key);
  const natural = NATURAL_MIN_TOKENS + Math.floor(random() * (NATURAL_MAX_TOKENS - NATURAL_MIN_TOKENS + 1));
  const tokens = Math.max(1, Math.min(maxTokens, natural));
  const words = Array.from({ length: tokens }, () => VOCABULARY[Math.floor(random() * VOCABULARY.length)]);
  return {
    text: `Simulated reply ${hex.slice(0, 8)}: ${words.join(' ')}`,
    tokens,
    finishReason: natural > maxTokens ? 'length' : 'stop',
  };
}

/** Unit-length like real embedding models, so cosine similarity on the output behaves. */
export function embed(key: string, dimensions: number): number[] {
  const { random } = keyedRandom(key);
  const raw = Array.from({ length: dimensions }, () => random() * 2 - 1);
  const norm = Math.hypot(...raw) || 1;
  return raw.map((x) => x / norm);
}

/** A relevance score in (0, 1), seeded by `key`: the same pair always scores the same. */
export function relevance(key: string): number {
  return keyedRandom(key).random();
}
