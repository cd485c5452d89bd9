export { batchWorkflow } from './batch';
export { webhookDeliveryWorkflow } from './webhook';
