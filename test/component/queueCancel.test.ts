import type { Db } from '../../src/db/pool';
import { newQueueId, newRequestId } from '../../src/ids';
import { cancelQueuedRequest, claimQueuedRequests, findQueuedRequest, insertQueuedRequests } from '../../src/store/queuedRequests';
import { transitionBatch } from '../../src/store/batches';
import { insertQueue, lockQueue } from '../../src/store/queues';
import { checkpoint, connectTestDb, insertRanBatch, uniqueTenant } from '../support/fixtures';
import { waitFor } from '../support/wait';

const MODEL = 'sim-cancel-model';
const ENDPOINT = '/v1/chat/completions';

/**
 * A queued request against its batch. A request cancelled while a dispatch claims it. The dispatch holds its queue's row lock and then
 * claims the queue's requests; a cancel that locked the request first and the queue second deadlocked
 * with it, and PostgreSQL aborted one of the two (the API answered the cancel with a 500; found by
 * queueProperties.test.ts under a random seed). A cancel waits for the queue's lock first now: the
 * dispatch claims the request, and the cancel then finds it dispatched. And a request whose batch's
 * first chunks ran while it validated: their result is not the request's until the batch has run.
 */
describe('a queued request and its batch: a cancel racing the dispatch, and the head start', () => {
  let db: Db;
  const tenantId = uniqueTenant('queue-cancel');

  beforeAll(async () => {
    db = await connectTestDb();
  });

  afterAll(async () => {
    await db?.end();
  });

  test('the dispatch claims the request and the cancel answers "not queued"; neither is aborted', async () => {
    const queue = 'racing';
    await insertQueue(db, { tenantId, name: queue, id: newQueueId(), settings: {}, requestKwargs: null });
    const id = newRequestId();
    await insertQueuedRequests(db, { tenantId, queue, windowSeconds: 3600, requests: [{ id, customId: 'c1', model: MODEL, endpoint: ENDPOINT, body: '{}' }] });
    await db.query(`UPDATE queues SET queued = 1 WHERE tenant_id = $1 AND name = $2`, [tenantId, queue]);
    const batchId = await insertRanBatch(db, tenantId, null, 'validating');

    const dispatch = await db.connect();
    try {
      await dispatch.query('BEGIN');
      await lockQueue(dispatch, tenantId, queue);
      const cancelling = cancelQueuedRequest(db, tenantId, id);
      // The cancel is now waiting on a lock (the queue's, with the fix; without it, it holds the request's).
      await waitFor(
        async () => (await db.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%SET status = ''cancelled''%'`)).rowCount === 1,
        { timeoutMs: 10_000, what: 'the cancel waiting on a lock' },
      );
      expect(await claimQueuedRequests(dispatch, { tenantId, queue, model: MODEL, endpoint: ENDPOINT, limit: 10, batchId })).toBe(1);
      await dispatch.query('COMMIT');
      expect(await cancelling).toBe(false);
    } finally {
      dispatch.release();
    }
    const { rows } = await db.query<{ status: string; batch_id: string }>(`SELECT status, batch_id FROM queued_requests WHERE id = $1`, [id]);
    expect(rows).toEqual([{ status: 'dispatched', batch_id: batchId }]);
  });

  test("a dispatched request reads no result its batch's head stored while validating, until its batch has run", async () => {
    const queue = 'head-start';
    await insertQueue(db, { tenantId, name: queue, id: newQueueId(), settings: {}, requestKwargs: null });
    const id = newRequestId();
    await insertQueuedRequests(db, { tenantId, queue, windowSeconds: 3600, requests: [{ id, customId: 'h1', model: MODEL, endpoint: ENDPOINT, body: '{}' }] });
    const batchId = await insertRanBatch(db, tenantId, null, 'validating');
    await db.query(`UPDATE batches SET completed_at = NULL WHERE id = $1`, [batchId]);
    expect(await claimQueuedRequests(db, { tenantId, queue, model: MODEL, endpoint: ENDPOINT, limit: 10, batchId })).toBe(1);
    // Its first chunk ran while the batch validated (the head start).
    await expect(checkpoint(db, batchId, [{ lineNo: 1, status: 200 }])).resolves.toBe(1);
    expect(await findQueuedRequest(db, tenantId, id)).toMatchObject({ effective_status: 'dispatched', status_code: null, finished_at: null });
    await transitionBatch(db, batchId, 'in_progress');
    expect(await findQueuedRequest(db, tenantId, id)).toMatchObject({ effective_status: 'completed', status_code: 200 });
  });
});
