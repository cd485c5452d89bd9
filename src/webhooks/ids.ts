import crypto from 'node:crypto';

/** The event ID: the `id` of the body and the `webhook-id` header, the same on every attempt. */
export const newEventId = () => `evt_${crypto.randomBytes(16).toString('hex')}`;
export const newDeliveryId = () => `whdel_${crypto.randomBytes(16).toString('hex')}`;
