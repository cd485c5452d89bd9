import type { Db } from '../db/pool';
import { listLiveModels } from '../store/inferenceWorkers';
import { toUnixSeconds } from '../unixTime';
import { BATCH_ENDPOINTS, type BatchEndpoint } from '../domain/endpoints';

/** OpenAI's model object, with the extension `endpoints`: the batch endpoints the model is served for. */
export type ModelObject = { id: string; object: 'model'; created: number; owned_by: string; endpoints: BatchEndpoint[] };

/** The models live GPU workers serve, as OpenAI's model objects: what a batch may target right now, and at which endpoints. */
export async function listTargetableModels(db: Db): Promise<ModelObject[]> {
  const models = await listLiveModels(db);
  return models.map((m) => ({
    id: m.model,
    object: 'model',
    created: toUnixSeconds(m.first_seen),
    owned_by: 'vllm-batch-server',
    // In BATCH_ENDPOINTS order; a row from a newer worker may name one this build does not know.
    endpoints: BATCH_ENDPOINTS.filter((e) => m.endpoints.includes(e)),
  }));
}
