import type { Db } from '../db/pool';
import { cancelQueuedRequest, findQueuedRequest, listQueuedRequests, type QueuedRequestListQuery } from '../store/queuedRequests';
import { toQueuedRequestObject, type QueuedRequestObject } from './object';

export async function retrieveQueuedRequest(db: Db, tenantId: string, id: string): Promise<QueuedRequestObject | undefined> {
  const row = await findQueuedRequest(db, tenantId, id);
  return row && toQueuedRequestObject(row);
}

/** A page (`limit + 1` objects, for has_more); undefined when `after` names no request of this tenant. */
export async function listQueuedRequestObjects(db: Db, tenantId: string, query: QueuedRequestListQuery): Promise<QueuedRequestObject[] | undefined> {
  const rows = await listQueuedRequests(db, tenantId, query);
  return rows?.map(toQueuedRequestObject);
}

export type CancelRequestOutcome =
  { kind: 'cancelled'; request: QueuedRequestObject } | { kind: 'not_cancellable'; request: QueuedRequestObject } | { kind: 'not_found' };

/** Removes a request still queued; one already in a batch is cancelled with its batch. */
export async function cancelRequest(db: Db, tenantId: string, id: string): Promise<CancelRequestOutcome> {
  const cancelled = await cancelQueuedRequest(db, tenantId, id);
  const request = await retrieveQueuedRequest(db, tenantId, id);
  if (!request) return { kind: 'not_found' };
  return cancelled || request.status === 'cancelled' ? { kind: 'cancelled', request } : { kind: 'not_cancellable', request };
}
