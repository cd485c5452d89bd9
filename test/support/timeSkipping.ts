import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { addSearchAttributes } from '../../src/temporal/registerSearchAttributes';
import { REPO_ROOT } from './repo';

/**
 * Temporal's time-skipping test server (scripts/ensure-temporal-test-server.sh installs it; `npm test`
 * and `npm run test:component` run that script first): workflow time jumps to the next timer
 * whenever the test waits on a result and no activity runs, so a completion window or a day of
 * delivery retries takes seconds. The app's search attributes are registered as on a real server,
 * without listing them first: this server answers AddSearchAttributes but not ListSearchAttributes.
 */
export async function timeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  const launcher = process.env.TEMPORAL_TEST_SERVER_PATH || path.join(REPO_ROOT, '.tools/temporal-test-server/bin/temporal-test-server');
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: launcher } } });
  await addSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}
