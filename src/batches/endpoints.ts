/** The inference endpoints a batch may target, as in OpenAI's Batch API. */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];
export const DEFAULT_ENDPOINT: BatchEndpoint = '/v1/chat/completions';
export const DEFAULT_COMPLETION_WINDOW = '24h';
