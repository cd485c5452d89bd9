import type { Db } from '../db/pool';
import { listLiveModels } from '../store/workers';
import { toUnixSeconds } from '../unixTime';

export type ModelObject = { id: string; object: 'model'; created: number; owned_by: string };

/** The models live GPU workers serve, as OpenAI's model objects: what a batch may target right now. */
export async function listTargetableModels(db: Db): Promise<ModelObject[]> {
  const models = await listLiveModels(db);
  return models.map((m) => ({ id: m.model, object: 'model', created: toUnixSeconds(m.first_seen), owned_by: 'vllm-batch-server' }));
}
