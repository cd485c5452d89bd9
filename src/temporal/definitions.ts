/**
 * Task queues, signals and queries: defined once, used by the workflows and by the gateway that
 * starts, signals and queries them (samples-typescript's shared module).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { FinalizeOutcome } from '../states/batch';

/** Task queue of the orchestrator role: batch workflows and light activities. */
export const ORCHESTRATOR_TASK_QUEUE = 'batch-orchestrator';

/** Chunk activities for a model run on its own queue, polled only by GPU workers whose backend serves it. */
export const inferenceTaskQueue = (model: string) => `inference.${model}`;

/** A batch workflow's progress as its query answers it. */
export type BatchProgress = {
  phase: 'validating' | 'in_progress' | 'finalizing' | 'done';
  chunkCount: number | null;
  chunksDone: number;
  chunksRunning: number;
  stopReason: Exclude<FinalizeOutcome, 'completed'> | null;
};

/** Sent when a user cancels a batch (through the API, or from the Temporal UI by name: `cancel`). */
export const cancelSignal = defineSignal('cancel');
/** Chunks done and running, and the phase, of a batch workflow (`progress` in the Temporal UI). */
export const progressQuery = defineQuery<BatchProgress>('progress');
