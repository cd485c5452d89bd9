import { Context } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { logger } from '../logger';
import { deleteAbandonedUploads } from '../store/files';
import { whileHeartbeating } from './heartbeat';

/** The upload sweep's activity (orchestrator role). */
export function createUploadActivities(deps: { db: Db }) {
  return {
    /**
     * Deletes what uploads cut short by a crash left behind: files still `uploading` longer after
     * their start than an upload can last (`abandonedAfterMs`, from the API's request timeout).
     */
    async sweepAbandonedUploads(abandonedAfterMs: number): Promise<number> {
      const deleted = await whileHeartbeating(Context.current(), () => deleteAbandonedUploads(deps.db, abandonedAfterMs));
      if (deleted > 0) logger.info({ deleted }, 'deleted abandoned uploads');
      return deleted;
    },
  };
}

export type UploadActivities = ReturnType<typeof createUploadActivities>;
