/**
 * The statuses of a queued request (stream-to-batch), defined once. A leaf: it imports nothing.
 *
 * Only `STORED_REQUEST_STATUSES` are written (PostgreSQL checks the same list, migrations 008 and 014:
 * `expired` while queued, when no worker served its model within its window); once
 * dispatched, a request's status is read from its batch and its result: `completed` (a 2xx response),
 * `failed` (another response or an error), or, for a request its batch never ran, the batch's own end.
 */
export const REQUEST_STATUSES = ['queued', 'dispatched', 'completed', 'failed', 'cancelled', 'expired'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

export const STORED_REQUEST_STATUSES = ['queued', 'dispatched', 'cancelled', 'expired'] as const satisfies readonly RequestStatus[];
export type StoredRequestStatus = (typeof STORED_REQUEST_STATUSES)[number];
