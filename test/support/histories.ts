import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/** Where the replay test (test/component/replay.test.ts) reads the histories of earlier runs from. */
export const HISTORIES_DIR = path.resolve(__dirname, '../fixtures/histories');

/** How histories are kept: protobuf's object form, names for enums, strings for 64-bit IDs. */
const HISTORY_OBJECT = { longs: String, enums: String, bytes: String } as const;

/** A kept history, read back as the replayer takes it. */
export function readHistory(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
}

/**
 * With `CAPTURE_HISTORIES=<dir>` (e.g. `CAPTURE_HISTORIES=test/fixtures/histories npx jest
 * test/component/queueWorkflow.test.ts --selectProjects stack`) writes the history of the run to
 * `<dir>/<name>.json` for the replay test; otherwise a no-op. Old histories are never rewritten to
 * make a change pass: capture new ones under new names.
 */
export async function keepHistory(client: Client, name: string, workflowId: string, runId?: string): Promise<void> {
  const dir = process.env.CAPTURE_HISTORIES;
  if (!dir) return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(temporal.api.history.v1.History.toObject(history as temporal.api.history.v1.History, HISTORY_OBJECT)));
}
