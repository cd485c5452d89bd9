import { Context } from '@temporalio/activity';
import type { Db } from '../db/pool';
import { logger } from '../logger';
import { applyRetention, type RetentionReport } from '../retention/apply';
import { whileHeartbeating } from './heartbeat';

/** The retention pass's activity (orchestrator role): thin over src/retention. */
export function createRetentionActivities(deps: { db: Db }) {
  return {
    async applyRetention(): Promise<RetentionReport> {
      const context = Context.current();
      const report = await whileHeartbeating(context, () => applyRetention(deps.db, context.cancellationSignal));
      if (Object.values(report).some((n) => n > 0)) logger.info(report, 'retention pass');
      return report;
    },
  };
}

export type RetentionActivities = ReturnType<typeof createRetentionActivities>;
