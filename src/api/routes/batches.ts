import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/pool';
import { createBatch } from '../../batches/create';
import { BATCH_ENDPOINTS, DEFAULT_COMPLETION_WINDOW, DEFAULT_ENDPOINT } from '../../batches/endpoints';
import { toBatchObject } from '../../batches/object';
import { completionWindowSeconds } from '../../batches/window';
import { findBatch } from '../../store/batches';
import { findFile } from '../../store/files';
import { invalidRequest, notFound } from '../errors';
import { tenantOf } from '../tenant';
import { parseRequest } from '../validate';

export const CreateBatchBody = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.enum(BATCH_ENDPOINTS).default(DEFAULT_ENDPOINT),
  completion_window: z
    .string()
    .default(DEFAULT_COMPLETION_WINDOW)
    .refine((w) => completionWindowSeconds(w) !== undefined, 'must be 24h or a duration like 90s, 30m, 12h, 7d'),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
  /** Extension: model for lines whose body names none (also accepted as metadata.model). */
  model: z.string().min(1).optional(),
});

export function batchesRouter(deps: { db: Db; temporal: Client; chunksInFlight: number }): Router {
  const router = Router();

  router.post('/batches', async (req, res) => {
    const body = parseRequest(CreateBatchBody, req.body ?? {});
    const tenantId = tenantOf(res);
    const inputFile = await findFile(deps.db, tenantId, body.input_file_id);
    if (!inputFile) throw invalidRequest(`No such file: '${body.input_file_id}'`, 'input_file_id', 'invalid_input_file');
    if (inputFile.purpose !== 'batch') {
      throw invalidRequest(`File '${inputFile.id}' has purpose '${inputFile.purpose}', not 'batch'.`, 'input_file_id', 'invalid_input_file');
    }
    const batch = await createBatch(deps, {
      tenantId,
      inputFileId: inputFile.id,
      endpoint: body.endpoint,
      completionWindow: body.completion_window,
      windowSeconds: completionWindowSeconds(body.completion_window)!,
      model: body.model ?? body.metadata?.model ?? null,
      metadata: body.metadata ?? null,
    });
    res.status(200).json(toBatchObject(batch));
  });

  router.get('/batches/:id', async (req, res) => {
    const batch = await findBatch(deps.db, req.params.id!, tenantOf(res));
    if (!batch) throw notFound('batch', req.params.id!);
    res.json(toBatchObject(batch));
  });

  return router;
}
