import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

const HISTORIES = path.resolve(__dirname, '../fixtures/histories');

/**
 * Workflow code must replay the histories of workflows started by earlier code: a deploy that
 * reorders commands would fail every running batch's workflow tasks forever. These histories were
 * captured from real runs on the Temporal dev server (see `keepHistory` in batchWorkflow.test.ts);
 * add new ones when a workflow gains a path, and never edit old ones to make a change pass.
 */
describe("today's workflow code replays the histories of earlier runs", () => {
  let bundle: WorkflowBundleWithSourceMap;
  const files = fs.readdirSync(HISTORIES).filter((name) => name.endsWith('.json'));

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: new DefaultLogger('ERROR') });
  });

  test('the captured histories cover every batch-workflow ending', () => {
    expect(files.sort()).toEqual(
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
      ].sort(),
    );
  });

  test.each(files)('%s replays without nondeterminism', async (name) => {
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(path.join(HISTORIES, name), 'utf8')));
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, history, name)).resolves.toBeUndefined();
  });
});
