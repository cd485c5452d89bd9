import { Connection, isGrpcServiceError } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { logger } from '../logger';
import { waitUntil } from '../infra/processes';
import { ensureSearchAttributes } from './registerSearchAttributes';

/** gRPC status ALREADY_EXISTS (grpc/status.proto): the namespace was registered by an earlier start. */
const ALREADY_EXISTS = 6;

/**
 * Registers `namespace` on a real Temporal server (which, unlike the dev server, creates none), then
 * waits until the frontend serves requests in it: a new namespace reaches the frontend's namespace
 * cache within seconds, and a service started before that would meet "namespace not found". The
 * same steps as docker-compose.yml's `temporal-namespace` job (deploy/temporal/create-namespace.sh).
 * Waits for the server to answer at all first: it is usually still starting. Registers the app's
 * search attributes too, and waits until they are usable.
 */
export async function ensureNamespace(address: string, namespace: string, retentionSeconds: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  const connection = await connectBy(address, deadline);
  try {
    const registered = await waitUntil(
      async () => {
        try {
          await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionSeconds * 1000) });
          logger.info({ namespace }, 'registered the Temporal namespace');
          return true;
        } catch (err) {
          if (isGrpcServiceError(err) && (err.code as number) === ALREADY_EXISTS) return true;
          lastError = err;
          return false;
        }
      },
      Math.max(0, deadline - Date.now()),
      500,
    );
    const served =
      registered &&
      (await waitUntil(
        () =>
          connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 }).then(
            () => true,
            (err: unknown) => ((lastError = err), false),
          ),
        Math.max(0, deadline - Date.now()),
        500,
      ));
    if (!served) throw new Error(`Temporal namespace ${namespace} not served at ${address}: ${(lastError as Error | undefined)?.message ?? 'timed out'}`);
    // Once, before the services start: each would register them itself, all at the same moment.
    await ensureSearchAttributes(connection, namespace);
  } finally {
    await connection.close();
  }
}

async function connectBy(address: string, deadline: number): Promise<Connection> {
  for (;;) {
    try {
      return await Connection.connect({ address, connectTimeout: 2000 });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no Temporal server answered at ${address}: ${(err as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
