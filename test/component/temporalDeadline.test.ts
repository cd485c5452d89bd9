import { Client, Connection } from '@temporalio/client';
import { isTemporalUnavailable } from '../../src/temporal/availability';
import { TEMPORAL_CALL_DEADLINE_MS, workflowGateway } from '../../src/temporal/gateway';
import { FaultProxy } from '../../src/soak/faultProxy';
import { testStack } from '../support/stack';

/**
 * The workflow gateway against the stack's real Temporal server reached through a fault proxy that
 * goes silent: what a paused or partitioned server looks like. Found by the soak: a create sent while
 * the cluster's Temporal server was paused got no answer at all, and the API request hung with it.
 */
describe('workflow gateway, Temporal silent', () => {
  let proxy: FaultProxy;
  let connection: Connection;

  beforeAll(async () => {
    const [host, port] = testStack().temporalAddress.split(':');
    proxy = new FaultProxy({ listenPort: 0, target: { host: host!, port: Number(port) } });
    await proxy.start();
    connection = await Connection.connect({ address: `127.0.0.1:${proxy.port}` });
  });

  afterAll(async () => {
    await connection?.close();
    await proxy?.close();
  });

  test('a call fails as Temporal unavailable after its deadline instead of waiting forever, and works again once Temporal answers', async () => {
    const workflows = workflowGateway(new Client({ connection }));
    await expect(workflows.batchWorkflowState('batch_never_started')).resolves.toBe('missing');

    await proxy.setMode({ kind: 'blackhole' });
    const startedAt = Date.now();
    const outcome = await Promise.race([
      workflows.batchWorkflowState('batch_never_started').then(
        () => 'answered',
        (err: unknown) => err,
      ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 3 * TEMPORAL_CALL_DEADLINE_MS).unref()),
    ]);
    expect(isTemporalUnavailable(outcome)).toBe(true);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(TEMPORAL_CALL_DEADLINE_MS - 100);

    await proxy.setMode({ kind: 'pass' });
    await expect(workflows.batchWorkflowState('batch_never_started')).resolves.toBe('missing');
  }, 60_000);
});
