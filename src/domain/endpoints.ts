import { z } from 'zod';

/**
 * The inference endpoints a batch may target, each defined once here: its kind, what its body must
 * hold, where its response reports usage, and what a bare string means in a stream-to-batch queue.
 * OpenAI's Batch API takes the first four; vLLM's run-batch also takes `/v1/score` and `/v1/rerank`.
 */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/embeddings', '/v1/score', '/v1/rerank'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];
export const DEFAULT_ENDPOINT: BatchEndpoint = '/v1/chat/completions';
export const DEFAULT_COMPLETION_WINDOW = '24h';

/**
 * A vLLM server runs either a generation model or a pooling model (`--runner pooling`), and serves
 * only that kind's routes: chunks of a batch go to the task queue of its model and kind, so they
 * reach only GPU workers whose backends serve that kind for that model.
 */
export const ENDPOINT_KINDS = ['generation', 'pooling'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

export const isBatchEndpoint = (value: unknown): value is BatchEndpoint => (BATCH_ENDPOINTS as readonly unknown[]).includes(value);

/** Tokens of one response, as the batch's `usage` counts them. */
export type TokenUsage = { input: number; output: number };

type BodyProblem = { param: string; message: string };

type EndpointSpec = {
  kind: EndpointKind;
  /**
   * The fields the server needs, of the right JSON type: a line without them could only come back
   * as the server's 400, so it fails validation instead. Their content is the server's to judge.
   */
  checkBody: (body: Record<string, unknown>) => BodyProblem | undefined;
  /** Reads the tokens from a 2xx response body's `usage`, in this endpoint's shape. */
  usage: (usage: Record<string, unknown>) => TokenUsage;
  /** The body fields a bare string becomes in a stream-to-batch queue; undefined: a string is not a request. */
  fromText: ((text: string) => Record<string, unknown>) | undefined;
};

// Text, a list of texts, token IDs, lists of token IDs, or (chat, responses) content parts: all arrays or strings.
const textOrList = z.union([z.string(), z.array(z.unknown())]);
const list = z.array(z.unknown());

/** `body[name]` must parse with `schema`, described as `what` in the error. */
const needs =
  (name: string, schema: z.ZodType, what: string) =>
  (body: Record<string, unknown>): BodyProblem | undefined =>
    schema.safeParse(body[name]).success ? undefined : { param: `body.${name}`, message: `body.${name} must be ${what}` };

/** Every check in turn; the first problem found. */
const all =
  (...checks: Array<(body: Record<string, unknown>) => BodyProblem | undefined>) =>
  (body: Record<string, unknown>): BodyProblem | undefined => {
    for (const check of checks) {
      const problem = check(body);
      if (problem) return problem;
    }
    return undefined;
  };

/**
 * vLLM's score request names its two sides one of four ways (text_1/text_2, the original; queries with
 * documents or items; data_1/data_2): one complete pair must be there.
 */
const SCORE_PAIRS = [
  ['text_1', 'text_2'],
  ['queries', 'documents'],
  ['queries', 'items'],
  ['data_1', 'data_2'],
] as const;
function checkScoreBody(body: Record<string, unknown>): BodyProblem | undefined {
  const pair = SCORE_PAIRS.find(([first, second]) => body[first] !== undefined && body[second] !== undefined);
  if (!pair) {
    const [first, ...others] = SCORE_PAIRS.map(([a, b]) => `${a} and ${b}`);
    return { param: 'body.text_1', message: `body needs the two sides to score: ${first} (or ${others.join(', or ')})` };
  }
  return all(needs(pair[0], textOrList, 'a string or an array'), needs(pair[1], textOrList, 'a string or an array'))(body);
}

const count = (value: unknown) => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0);
// Chat and completions: OpenAI's usage object.
const promptAndCompletion = (usage: Record<string, unknown>): TokenUsage => ({ input: count(usage.prompt_tokens), output: count(usage.completion_tokens) });
// Pooling produces no tokens (vLLM's score and rerank usage has prompt_tokens and total_tokens only).
const promptOnly = (usage: Record<string, unknown>): TokenUsage => ({ input: count(usage.prompt_tokens), output: 0 });

const SPECS: Record<BatchEndpoint, EndpointSpec> = {
  '/v1/chat/completions': {
    kind: 'generation',
    checkBody: needs('messages', list, 'an array of messages'),
    usage: promptAndCompletion,
    fromText: (text) => ({ messages: [{ role: 'user', content: text }] }),
  },
  '/v1/completions': {
    kind: 'generation',
    checkBody: needs('prompt', textOrList, 'a string or an array (the prompt)'),
    usage: promptAndCompletion,
    fromText: (text) => ({ prompt: text }),
  },
  '/v1/responses': {
    kind: 'generation',
    checkBody: all(
      needs('input', textOrList, 'a string or an array of input items'),
      // A background response answers `queued` and is fetched later: a batch line gets one final response.
      needs('background', z.literal(false).nullish(), 'false or absent: a batch line gets its final response, not a background one'),
    ),
    // The Responses API's own names (OpenAI's reference, and vLLM's ResponseUsage).
    usage: (usage) => ({ input: count(usage.input_tokens), output: count(usage.output_tokens) }),
    fromText: (text) => ({ input: text }),
  },
  '/v1/embeddings': {
    kind: 'pooling',
    checkBody: needs('input', textOrList, 'a string or an array (the input to embed)'),
    usage: promptOnly,
    fromText: (text) => ({ input: text }),
  },
  '/v1/score': { kind: 'pooling', checkBody: checkScoreBody, usage: promptOnly, fromText: undefined },
  '/v1/rerank': {
    kind: 'pooling',
    checkBody: all(needs('query', z.union([z.string(), z.looseObject({})]), 'a string (the query)'), needs('documents', textOrList, 'a string or an array of documents')),
    usage: promptOnly,
    fromText: undefined,
  },
};

export const endpointKind = (endpoint: BatchEndpoint): EndpointKind => SPECS[endpoint].kind;

/** The endpoints of each kind, in BATCH_ENDPOINTS order. */
export const ENDPOINTS_OF_KIND: Readonly<Record<EndpointKind, readonly BatchEndpoint[]>> = {
  generation: BATCH_ENDPOINTS.filter((e) => SPECS[e].kind === 'generation'),
  pooling: BATCH_ENDPOINTS.filter((e) => SPECS[e].kind === 'pooling'),
};

/** What is wrong with `body` for `endpoint`, if anything: the parameter and a message to follow the line's subject. */
export const checkBody = (endpoint: BatchEndpoint, body: Record<string, unknown>): BodyProblem | undefined => SPECS[endpoint].checkBody(body);

/** The tokens a response body reports, read in `endpoint`'s usage shape; 0 for what it does not report. */
export function usageOf(endpoint: string, body: unknown): TokenUsage {
  const usage = (body as { usage?: unknown } | null)?.usage;
  if (!isBatchEndpoint(endpoint) || typeof usage !== 'object' || usage === null) return { input: 0, output: 0 };
  return SPECS[endpoint].usage(usage as Record<string, unknown>);
}

/** The body fields a bare string becomes for `endpoint`'s queue, or undefined when a string alone is no request there. */
export const bodyFromText = (endpoint: BatchEndpoint, text: string): Record<string, unknown> | undefined => SPECS[endpoint].fromText?.(text);

/**
 * `VLLM_ENDPOINTS` entries: endpoint paths, or a kind standing for all its endpoints. Returns the
 * endpoints in BATCH_ENDPOINTS order, or the first entry that is neither.
 */
export function parseEndpointList(entries: readonly string[]): { endpoints: BatchEndpoint[] } | { unknown: string } {
  const chosen = new Set<BatchEndpoint>();
  for (const entry of entries) {
    if (entry === 'generation' || entry === 'pooling') ENDPOINTS_OF_KIND[entry].forEach((e) => chosen.add(e));
    else if (isBatchEndpoint(entry)) chosen.add(entry);
    else return { unknown: entry };
  }
  return { endpoints: BATCH_ENDPOINTS.filter((e) => chosen.has(e)) };
}
