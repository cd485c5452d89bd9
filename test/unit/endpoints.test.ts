import { BATCH_ENDPOINTS, bodyFromText, endpointKind, ENDPOINTS_OF_KIND, parseEndpointList, usageOf, type BatchEndpoint } from '../../src/domain/endpoints';
import { loadSettings } from '../../src/config';
import { ConfigError } from '../../src/config/env';
import { inferenceTaskQueue } from '../../src/domain/taskQueues';

describe('batch endpoints', () => {
  test('are generation or pooling, as a vLLM server runs one kind of model', () => {
    expect(ENDPOINTS_OF_KIND).toEqual({
      generation: ['/v1/chat/completions', '/v1/completions', '/v1/responses'],
      pooling: ['/v1/embeddings', '/v1/score', '/v1/rerank'],
    });
    expect([...ENDPOINTS_OF_KIND.generation, ...ENDPOINTS_OF_KIND.pooling].sort()).toEqual([...BATCH_ENDPOINTS].sort());
    expect(endpointKind('/v1/rerank')).toBe('pooling');
  });

  test("route chunks to the queue of their model and kind; generation's keeps its old name", () => {
    expect(inferenceTaskQueue('m')).toBe('inference.m');
    expect(inferenceTaskQueue('m', 'generation')).toBe('inference.m');
    expect(inferenceTaskQueue('m', 'pooling')).toBe('inference-pooling.m');
    // No model name makes a generation queue meet a pooling one.
    expect(inferenceTaskQueue('-pooling.m', 'generation')).not.toBe(inferenceTaskQueue('m', 'pooling'));
  });

  test.each<[BatchEndpoint, unknown, { input: number; output: number }]>([
    ['/v1/chat/completions', { usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } }, { input: 12, output: 5 }],
    ['/v1/completions', { usage: { prompt_tokens: 3, completion_tokens: 9, total_tokens: 12 } }, { input: 3, output: 9 }],
    // The Responses API names them input_tokens and output_tokens (and has no prompt_tokens).
    [
      '/v1/responses',
      {
        object: 'response',
        usage: { input_tokens: 20, input_tokens_details: { cached_tokens: 4 }, output_tokens: 7, output_tokens_details: { reasoning_tokens: 2 }, total_tokens: 27 },
      },
      { input: 20, output: 7 },
    ],
    ['/v1/responses', { usage: { prompt_tokens: 20, completion_tokens: 7 } }, { input: 0, output: 0 }],
    ['/v1/embeddings', { usage: { prompt_tokens: 8, total_tokens: 8 } }, { input: 8, output: 0 }],
    // vLLM's score usage carries completion_tokens: 0 (UsageInfo); pooling never produces tokens.
    ['/v1/score', { usage: { prompt_tokens: 30, total_tokens: 30, completion_tokens: 0, prompt_tokens_details: null } }, { input: 30, output: 0 }],
    ['/v1/rerank', { usage: { prompt_tokens: 44, total_tokens: 44 } }, { input: 44, output: 0 }],
    ['/v1/chat/completions', { error: { message: 'bad' } }, { input: 0, output: 0 }],
    ['/v1/chat/completions', { usage: { prompt_tokens: -1, completion_tokens: 1.5 } }, { input: 0, output: 0 }],
    ['/v1/chat/completions', null, { input: 0, output: 0 }],
  ])('%s: usage of %j', (endpoint, body, expected) => {
    expect(usageOf(endpoint, body)).toEqual(expected);
  });

  test('make a bare queued string the field each endpoint reads, or no request at all', () => {
    expect(bodyFromText('/v1/chat/completions', 'hi')).toEqual({ messages: [{ role: 'user', content: 'hi' }] });
    expect(bodyFromText('/v1/completions', 'hi')).toEqual({ prompt: 'hi' });
    expect(bodyFromText('/v1/responses', 'hi')).toEqual({ input: 'hi' });
    expect(bodyFromText('/v1/embeddings', 'hi')).toEqual({ input: 'hi' });
    expect(bodyFromText('/v1/score', 'hi')).toBeUndefined();
    expect(bodyFromText('/v1/rerank', 'hi')).toBeUndefined();
  });
});

describe('VLLM_ENDPOINTS', () => {
  test('takes endpoint paths and kinds, in any mix', () => {
    expect(parseEndpointList(['pooling'])).toEqual({ endpoints: ['/v1/embeddings', '/v1/score', '/v1/rerank'] });
    expect(parseEndpointList(['/v1/embeddings', 'generation'])).toEqual({
      endpoints: ['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/embeddings'],
    });
    expect(parseEndpointList(['/v1/classify'])).toEqual({ unknown: '/v1/classify' });
  });

  test('is discovery when unset, and fails start-up with one line when it names something else', () => {
    expect(loadSettings(['inference'], {}).VLLM_ENDPOINTS).toBeUndefined();
    expect(loadSettings(['inference'], { VLLM_ENDPOINTS: 'generation' }).VLLM_ENDPOINTS).toEqual(['/v1/chat/completions', '/v1/completions', '/v1/responses']);
    expect(() => loadSettings(['inference'], { VLLM_ENDPOINTS: 'generation,/score' })).toThrow(ConfigError);
    expect(() => loadSettings(['inference'], { VLLM_ENDPOINTS: 'generation,/score' })).toThrow(/VLLM_ENDPOINTS: unknown endpoint "\/score"/);
  });
});
