/**
 * Signals and queries: defined once, used by the workflows and by the gateway that signals and
 * queries them (samples-typescript's shared module). The task queues are named in
 * src/domain/taskQueues.ts, which needs no Temporal SDK.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { FinalizeOutcome } from '../states/batch';

/** A batch workflow's progress as its query answers it. */
export type BatchProgress = {
  phase: 'validating' | 'in_progress' | 'finalizing' | 'done';
  chunkCount: number | null;
  chunksDone: number;
  chunksRunning: number;
  stopReason: Extract<FinalizeOutcome, 'expired' | 'cancelled'> | null;
};

/** Sent when a user cancels a batch (through the API, or from the Temporal UI by name: `cancel`). */
export const cancelSignal = defineSignal('cancel');
/** Chunks done and running, and the phase, of a batch workflow (`progress` in the Temporal UI). */
export const progressQuery = defineQuery<BatchProgress>('progress');

export type QueueDispatcherInput = {
  tenantId: string;
  queue: string;
  /** Carried across continue-as-new, for the state query. */
  batchesDispatched?: number;
};

/** A queue's dispatcher workflow: one per (tenant, queue), found in the Temporal UI by this ID. */
export const queueWorkflowId = (tenantId: string, queue: string) => `queue:${tenantId}:${queue}`;

/** What a dispatcher workflow answers its query with (`state` in the Temporal UI). */
export type QueueDispatcherState = {
  phase: 'checking' | 'waiting' | 'idle';
  /** Queued requests at the last check. */
  queued: number;
  batchesDispatched: number;
  lastBatchId: string | null;
  /** Why the last check dispatched nothing, if it did not. */
  holdReason: 'below_thresholds' | 'model_not_served' | 'no_model' | null;
};

/** Sent on every enqueue that may need the dispatcher's attention (the queue was empty, or reached its size threshold). */
export const enqueuedSignal = defineSignal('enqueued');
export const queueStateQuery = defineQuery<QueueDispatcherState>('state');
