import fs from 'node:fs';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { HISTORIES_DIR, readHistory } from '../support/histories';

/**
 * Workflow code must replay the histories of workflows started by earlier code: a deploy that
 * reorders commands would fail every running batch's workflow tasks forever, and every queue's
 * dispatcher, which lives as long as its queue and moves to each new build. These histories were
 * captured from real runs on the Temporal dev server (`keepHistory` in test/support/histories.ts,
 * called by batchWorkflow.test.ts and queueWorkflow.test.ts); add new ones when a workflow gains a
 * path, and never edit old ones to make a change pass.
 */
describe("today's workflow code replays the histories of earlier runs", () => {
  let bundle: WorkflowBundleWithSourceMap;
  const files = fs.readdirSync(HISTORIES_DIR).filter((name) => name.endsWith('.json'));

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('ERROR') });
  });

  test('the captured histories cover every batch-workflow ending', () => {
    expect(files.filter((name) => name.startsWith('batch-')).sort()).toEqual(
      [
        'batch-cancel-signal-finalizing.json',
        'batch-cancel-signal-running.json',
        'batch-cancel-signal-validating.json',
        'batch-chunk-failed.json',
        'batch-continued-as-new.json',
        'batch-expired.json',
        'batch-workflow-cancel-finalizing.json',
        'batch-workflow-cancel-running.json',
        'batch-workflow-cancel-validating.json',
        'batch-window-follows-fleet.json',
        'batch-head-start.json',
        'batch-head-refused.json',
        'batch-head-cancelled.json',
      ].sort(),
    );
  });

  test('the captured histories cover the queue dispatcher: dispatch, idle and wake-up, held checks, deletion, continue-as-new', () => {
    expect(files.filter((name) => name.startsWith('queue-')).sort()).toEqual(
      ['queue-continued-as-new.json', 'queue-dispatch-idle-wake-gone.json', 'queue-held-then-dispatched.json'].sort(),
    );
  });

  test.each(files)('%s replays without nondeterminism', async (name) => {
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, readHistory(name), name)).resolves.toBeUndefined();
  });
});
