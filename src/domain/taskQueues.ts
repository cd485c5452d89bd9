import type { EndpointKind } from './endpoints';

/**
 * The task queues work is routed by: named once here for the workflows that schedule onto them, the
 * workers that poll them, the plan that picks one, and the metrics that read their backlog.
 */

/** Task queue of the orchestrator role: batch workflows and light activities. */
export const ORCHESTRATOR_TASK_QUEUE = 'batch-orchestrator';

/**
 * Chunk activities for a model run on its own queue, one per endpoint kind, polled only by GPU
 * workers whose backends serve that model for that kind (a vLLM server runs a generation or a
 * pooling model, never both). Generation keeps the name queues had before kinds existed, so chunks
 * scheduled then are still polled; pooling's prefix differs, so no model name can make the two meet.
 */
export const inferenceTaskQueue = (model: string, kind: EndpointKind = 'generation') => (kind === 'generation' ? `inference.${model}` : `inference-pooling.${model}`);
