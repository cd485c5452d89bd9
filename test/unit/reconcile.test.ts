import { strandedOutcome } from '../../src/pipeline/reconcile';

describe('how a batch whose workflow ended is finished', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  const later = new Date('2026-12-02T12:00:00Z');
  const earlier = new Date('2026-12-01T11:00:00Z');

  test.each([
    ['cancelling', later, 'cancelled'],
    ['cancelling', earlier, 'cancelled'],
    ['in_progress', earlier, 'expired'],
    ['validating', earlier, 'expired'],
    ['finalizing', earlier, 'completed'],
    ['finalizing', later, 'completed'],
    ['in_progress', later, 'failed'],
    ['validating', later, 'failed'],
  ] as const)('%s with its window ending %s → %s', (status, expiresAt, outcome) => {
    expect(strandedOutcome({ status, expires_at: expiresAt }, now)).toBe(outcome);
  });
});
