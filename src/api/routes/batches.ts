import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../../db/pool';
import { createBatch } from '../../batches/create';
import { toBatchObject } from '../../batches/object';
import { completionWindowSeconds } from '../../batches/window';
import { findBatch, listBatches } from '../../store/batches';
import { findFile } from '../../store/files';
import { invalidRequest, notFound, requireJsonObjectBody } from '../errors';
import { listObject, unknownCursor } from '../pagination';
import { CreateBatchBody, ListBatchesQuery } from '../schemas';
import { tenantOf } from '../tenant';
import { parseRequest } from '../validate';
import type { DestinationPolicy } from '../../webhooks/destination';
import { webhookForNewBatch } from './webhooks';

export function batchesRouter(deps: { db: Db; temporal: Client; webhookPolicy: DestinationPolicy; run: { chunksInFlight: number; chunkHeartbeatTimeoutMs: number } }): Router {
  const router = Router();

  router.post('/batches', requireJsonObjectBody, async (req, res) => {
    const body = parseRequest(CreateBatchBody, req.body ?? {});
    const tenantId = tenantOf(res);
    const inputFile = await findFile(deps.db, tenantId, body.input_file_id);
    if (!inputFile) throw invalidRequest(`No such file: '${body.input_file_id}'`, 'input_file_id', 'invalid_input_file');
    if (inputFile.purpose !== 'batch') {
      throw invalidRequest(`File '${inputFile.id}' has purpose '${inputFile.purpose}', not 'batch'.`, 'input_file_id', 'invalid_input_file');
    }
    const webhook = await webhookForNewBatch(body, deps.webhookPolicy);
    const batch = await createBatch(deps, {
      webhook,
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

  router.get('/batches', async (req, res) => {
    const query = parseRequest(ListBatchesQuery, req.query);
    const rows = await listBatches(deps.db, tenantOf(res), { after: query.after, limit: query.limit + 1 });
    if (!rows) throw unknownCursor('batch', query.after!);
    res.json(listObject(rows, query.limit, toBatchObject));
  });

  router.get('/batches/:id', async (req, res) => {
    const batch = await findBatch(deps.db, req.params.id!, tenantOf(res));
    if (!batch) throw notFound('batch', req.params.id!);
    res.json(toBatchObject(batch));
  });

  return router;
}
