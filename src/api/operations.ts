import { batchOperations } from './resources/batches';
import { fileOperations } from './resources/files';
import { modelOperations } from './resources/models';
import { queueOperations } from './resources/queues';
import { requestOperations } from './resources/requests';
import { webhookDeliveryOperations } from './resources/webhookDeliveries';
import type { Operation } from './operation';

/**
 * Every operation of the API under /v1, in the order the document lists them: what is mounted
 * (src/api/app.ts), what /openapi.json documents, and what the conformance, fuzz and cross-tenant
 * suites walk. A new route is written once, in its resource's module, and added here.
 */
export const OPERATIONS: readonly Operation[] = [
  ...fileOperations,
  ...batchOperations,
  ...webhookDeliveryOperations,
  ...modelOperations,
  ...queueOperations,
  ...requestOperations,
];
