export { batchWorkflow } from './batch';
export { queueDispatcherWorkflow } from './queue';
export { webhookDeliveryWorkflow } from './webhook';
export { reconcileWorkflow, retentionWorkflow, uploadSweepWorkflow } from './scheduled';
