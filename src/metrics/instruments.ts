import { Counter, Histogram } from 'prom-client';
import { registry } from './registry';

/**
 * Every `vbs_*` counter and histogram, defined once. Labels are bounded sets only: statuses, outcome
 * and error codes, endpoints and models that validation checked against the served ones, and the
 * configured backend URLs; never a batch id or anything else a tenant writes.
 */
const registers = [registry];

export const batchTransitions = new Counter({
  name: 'vbs_batch_transitions_total',
  help: 'Batch status changes made by this process, by the status moved to (validating: batches created).',
  labelNames: ['to'] as const,
  registers,
});

export const requestsCompleted = new Counter({
  name: 'vbs_requests_completed_total',
  help: 'Requests a GPU worker ran to a 2xx response, by batch endpoint and model.',
  labelNames: ['endpoint', 'model'] as const,
  registers,
});

export const requestsFailed = new Counter({
  name: 'vbs_requests_failed_total',
  help: 'Requests a GPU worker finished without a 2xx response, by endpoint, model and code (http_<status>, or why no response came: rate_limited, server_error, timeout, connection_error, malformed_response).',
  labelNames: ['endpoint', 'model', 'code'] as const,
  registers,
});

export const tokens = new Counter({
  name: 'vbs_tokens_total',
  help: 'Tokens of finished requests as the backend reported them in usage, by model and direction (input: prompt, output: completion).',
  labelNames: ['model', 'direction'] as const,
  registers,
});

export const backendRequestDuration = new Histogram({
  name: 'vbs_backend_request_duration_seconds',
  help: 'One attempt of one request at a backend, until its whole response: by backend and outcome (ok, client_error, rate_limited, server_error, timeout, connection_error, malformed_response).',
  labelNames: ['backend', 'outcome'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
  registers,
});

export const backendRetries = new Counter({
  name: 'vbs_backend_retries_total',
  help: "Attempts sent again, by cause; charged=false when the backend was out (an outage, waited out) rather than failing this request (charged to the request's attempts).",
  labelNames: ['cause', 'charged'] as const,
  registers,
});

export const chunkAttempts = new Counter({
  name: 'vbs_chunk_attempts_total',
  help: 'Chunk activity attempts on GPU workers, by outcome (done, cancelled, stalled, handed_back, failed) and whether the attempt was a retry.',
  labelNames: ['outcome', 'retry'] as const,
  registers,
});

export const redoneRequests = new Counter({
  name: 'vbs_redone_requests_total',
  help: 'Requests a retried chunk attempt ran because earlier attempts left them without a stored result (lost in a crash, or never sent before a stall or shutdown).',
  registers,
});

export const resultFlushDuration = new Histogram({
  name: 'vbs_result_flush_duration_seconds',
  help: "Storing one group of finished results in PostgreSQL, retries included: the checkpoint's latency.",
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
  registers,
});

export const webhookAttempts = new Counter({
  name: 'vbs_webhook_attempts_total',
  help: 'Webhook delivery attempts, by outcome (delivered, failed, refused).',
  labelNames: ['outcome'] as const,
  registers,
});

export const httpRequestDuration = new Histogram({
  name: 'vbs_http_request_duration_seconds',
  help: "API requests until their response was sent, by method, route pattern (e.g. /v1/batches/{batch_id}, 'unmatched' for unknown paths) and status code.",
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
  registers,
});
