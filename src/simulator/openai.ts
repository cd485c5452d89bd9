import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { invalidRequest } from '../api/errors';
import { embed, estimateTokens, generateText, relevance } from './generation';

/** What the server needs to serve one inference request: who it is for, how long it takes, what to answer. */
export type Inference = {
  model: string;
  /** All prompt text, where fault markers are looked for. */
  promptText: string;
  promptTokens: number;
  outputTokens: number;
  response: object;
};

const DEFAULT_MAX_TOKENS = 16;
const DEFAULT_EMBEDDING_DIMENSIONS = 16;

const maxTokens = z.number().int().min(1).nullish();
const choiceCount = z.number().int().min(1).max(128).nullish();
const tokenArray = z.array(z.number().int()).min(1);
// OpenAI accepts text or pre-tokenized input, singly or as a list, for both prompts and embedding inputs.
const promptOrInput = z.union([z.string(), z.array(z.string()).min(1), tokenArray, z.array(tokenArray).min(1)]);
const messageContent = z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }))]);

const chatSchema = z.object({
  model: z.string().min(1),
  messages: z.array(z.object({ role: z.string(), content: messageContent.nullish() })).min(1),
  max_tokens: maxTokens,
  max_completion_tokens: maxTokens,
  n: choiceCount,
  stream: z.boolean().nullish(),
});

const completionSchema = z.object({
  model: z.string().min(1),
  prompt: promptOrInput,
  max_tokens: maxTokens,
  n: choiceCount,
  stream: z.boolean().nullish(),
});

const embeddingsSchema = z.object({
  model: z.string().min(1),
  input: promptOrInput,
  dimensions: z.number().int().min(1).max(4096).nullish(),
  encoding_format: z.enum(['float', 'base64']).nullish(),
});

// The Responses API: input is text or a list of items (messages whose content is text or input_text parts).
const responseInputItem = z.looseObject({ role: z.string().optional(), content: messageContent.nullish() });
const responsesSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(responseInputItem).min(1)]),
  instructions: z.string().nullish(),
  max_output_tokens: maxTokens,
  stream: z.boolean().nullish(),
  background: z.boolean().nullish(),
});

// vLLM's score and rerank: a side is one text or a list of texts.
const scoreSide = z.union([z.string(), z.array(z.string()).min(1)]);
const scoreSchema = z.object({
  model: z.string().min(1),
  text_1: scoreSide.optional(),
  text_2: scoreSide.optional(),
  queries: scoreSide.optional(),
  documents: scoreSide.optional(),
  items: scoreSide.optional(),
  data_1: scoreSide.optional(),
  data_2: scoreSide.optional(),
});
const rerankSchema = z.object({
  model: z.string().min(1),
  query: z.string(),
  documents: z.array(z.string()).min(1),
  top_n: z.number().int().min(0).nullish(),
});

export function chatCompletion(body: unknown): Inference {
  const request = parse(chatSchema, body);
  rejectStreaming(request.stream);
  const contents = request.messages.map((message) => textOf(message.content));
  const conversation = request.messages.map((message, i) => `${message.role}: ${contents[i]}`).join('\n');
  const promptText = contents.join('\n');
  const limit = request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS;
  const generated = Array.from({ length: request.n ?? 1 }, (_, index) => generateText(`${request.model}\n${conversation}\n${index}`, limit));
  const promptTokens = estimateTokens(promptText);
  const outputTokens = sum(generated.map((g) => g.tokens));
  return {
    model: request.model,
    promptText,
    promptTokens,
    outputTokens,
    response: {
      id: `chatcmpl-${randomHex()}`,
      object: 'chat.completion',
      created: nowSeconds(),
      model: request.model,
      choices: generated.map((g, index) => ({
        index,
        message: { role: 'assistant', content: g.text },
        finish_reason: g.finishReason,
        logprobs: null,
      })),
      usage: usage(promptTokens, outputTokens),
    },
  };
}

export function completion(body: unknown): Inference {
  const request = parse(completionSchema, body);
  rejectStreaming(request.stream);
  const prompts = listOf(request.prompt).map(describe);
  const n = request.n ?? 1;
  const limit = request.max_tokens ?? DEFAULT_MAX_TOKENS;
  // As in OpenAI and vLLM, a list of prompts yields n consecutive choices per prompt.
  const generated = prompts.flatMap((prompt) => Array.from({ length: n }, (_, i) => generateText(`${request.model}\n${prompt.text}\n${i}`, limit)));
  const promptTokens = sum(prompts.map((p) => p.tokens));
  const outputTokens = sum(generated.map((g) => g.tokens));
  return {
    model: request.model,
    promptText: prompts.map((p) => p.text).join('\n'),
    promptTokens,
    outputTokens,
    response: {
      id: `cmpl-${randomHex()}`,
      object: 'text_completion',
      created: nowSeconds(),
      model: request.model,
      choices: generated.map((g, index) => ({ index, text: g.text, finish_reason: g.finishReason, logprobs: null })),
      usage: usage(promptTokens, outputTokens),
    },
  };
}

export function embeddings(body: unknown): Inference {
  const request = parse(embeddingsSchema, body);
  const inputs = listOf(request.input).map(describe);
  const dimensions = request.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
  const promptTokens = sum(inputs.map((input) => input.tokens));
  return {
    model: request.model,
    promptText: inputs.map((input) => input.text).join('\n'),
    promptTokens,
    outputTokens: 0,
    response: {
      object: 'list',
      data: inputs.map((input, index) => {
        const vector = embed(`${request.model}\n${input.text}`, dimensions);
        return {
          object: 'embedding',
          index,
          // The official SDKs ask for base64 by default: little-endian float32, as OpenAI sends it.
          embedding: request.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
        };
      }),
      model: request.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    },
  };
}

/** OpenAI's Responses API object, as vLLM answers it: one assistant message with output_text. */
export function responses(body: unknown): Inference {
  const request = parse(responsesSchema, body);
  rejectStreaming(request.stream);
  if (request.background) throw invalidRequest('background is not supported by the simulator', 'background', null);
  const items = typeof request.input === 'string' ? [{ role: 'user', content: request.input }] : request.input;
  const contents = [...(request.instructions ? [request.instructions] : []), ...items.map((item) => textOf(item.content))];
  const promptText = contents.join('\n');
  const limit = request.max_output_tokens ?? DEFAULT_MAX_TOKENS;
  const generated = generateText(`${request.model}\n${promptText}`, limit);
  const inputTokens = estimateTokens(promptText);
  return {
    model: request.model,
    promptText,
    promptTokens: inputTokens,
    outputTokens: generated.tokens,
    response: {
      id: `resp_${randomHex()}`,
      object: 'response',
      created_at: nowSeconds(),
      status: generated.finishReason === 'length' ? 'incomplete' : 'completed',
      incomplete_details: generated.finishReason === 'length' ? { reason: 'max_output_tokens' } : null,
      error: null,
      model: request.model,
      instructions: request.instructions ?? null,
      max_output_tokens: request.max_output_tokens ?? null,
      output: [
        {
          type: 'message',
          id: `msg_${randomHex()}`,
          status: generated.finishReason === 'length' ? 'incomplete' : 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: generated.text, annotations: [] }],
        },
      ],
      parallel_tool_calls: true,
      tool_choice: 'auto',
      tools: [],
      metadata: {},
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: generated.tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: inputTokens + generated.tokens,
      },
    },
  };
}

/**
 * vLLM's `/v1/score`: one score per pair, pairing a single text with each of a list (1:N) or two
 * lists item by item (N:N), each pair's tokens both sides' (a cross-encoder reads them together).
 */
export function score(body: unknown): Inference {
  const request = parse(scoreSchema, body);
  const [first, second] =
    request.text_1 !== undefined && request.text_2 !== undefined
      ? [request.text_1, request.text_2]
      : request.queries !== undefined && (request.documents ?? request.items) !== undefined
        ? [request.queries, (request.documents ?? request.items)!]
        : [request.data_1, request.data_2];
  if (first === undefined || second === undefined) throw invalidRequest('text_1 and text_2 (or queries and documents) are required', 'text_1', null);
  const left = typeof first === 'string' ? [first] : first;
  const right = typeof second === 'string' ? [second] : second;
  if (left.length !== 1 && left.length !== right.length) {
    throw invalidRequest(`text_1 has ${left.length} texts and text_2 ${right.length}: give one, or as many`, 'text_1', null);
  }
  const pairs = right.map((text, i) => [left.length === 1 ? left[0]! : left[i]!, text] as const);
  const promptTokens = sum(pairs.map(([a, b]) => estimateTokens(a) + estimateTokens(b)));
  return {
    model: request.model,
    promptText: [...left, ...right].join('\n'),
    promptTokens,
    outputTokens: 0,
    response: {
      id: `score-${randomHex()}`,
      object: 'list',
      created: nowSeconds(),
      model: request.model,
      data: pairs.map(([a, b], index) => ({ index, object: 'score', score: relevance(`${request.model}\n${a}\n${b}`) })),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens, completion_tokens: 0, prompt_tokens_details: null },
    },
  };
}

/** vLLM's `/v1/rerank` (Jina's and Cohere's shape): documents by relevance to the query, best first, the top `top_n` (0: all). */
export function rerank(body: unknown): Inference {
  const request = parse(rerankSchema, body);
  const results = request.documents
    .map((text, index) => ({ index, document: { text }, relevance_score: relevance(`${request.model}\n${request.query}\n${text}`) }))
    .sort((a, b) => b.relevance_score - a.relevance_score);
  const promptTokens = sum(request.documents.map((text) => estimateTokens(request.query) + estimateTokens(text)));
  return {
    model: request.model,
    promptText: [request.query, ...request.documents].join('\n'),
    promptTokens,
    outputTokens: 0,
    response: {
      id: `rerank-${randomHex()}`,
      model: request.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      results: request.top_n ? results.slice(0, request.top_n) : results,
    },
  };
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.map(String).join('.') || null;
  throw invalidRequest(param ? `${param}: ${issue.message}` : issue.message, param, null);
}

// Batch jobs never stream; answering a stream request with a plain body would hide a client bug.
function rejectStreaming(stream: boolean | null | undefined): void {
  if (stream) throw invalidRequest('stream is not supported by the simulator', 'stream', null);
}

function textOf(content: z.output<typeof messageContent> | null | undefined): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => part.text ?? '').join('');
}

type PromptOrInput = z.output<typeof promptOrInput>;

function listOf(value: PromptOrInput): Array<string | number[]> {
  if (typeof value === 'string' || isTokenArray(value)) return [value];
  return value;
}

function isTokenArray(value: Exclude<PromptOrInput, string>): value is number[] {
  return typeof value[0] === 'number';
}

function describe(prompt: string | number[]): { text: string; tokens: number } {
  return typeof prompt === 'string' ? { text: prompt, tokens: estimateTokens(prompt) } : { text: prompt.join(' '), tokens: prompt.length };
}

function usage(promptTokens: number, completionTokens: number) {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function randomHex(): string {
  return randomBytes(12).toString('hex');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
