/** Task queue of the orchestrator role: batch workflows and light activities. */
export const ORCHESTRATOR_TASK_QUEUE = 'batch-orchestrator';

/** Chunk activities for a model run on its own queue, polled only by GPU workers whose backend serves it. */
export const inferenceTaskQueue = (model: string) => `inference.${model}`;

/** Signal the API sends when a user cancels a batch. */
export const CANCEL_SIGNAL = 'cancel';
/** Query answering a batch workflow's progress (chunks done, running, phase). */
export const PROGRESS_QUERY = 'progress';
