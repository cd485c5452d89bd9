import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes that let operators filter batches in the Temporal UI (e.g. `BatchStatus = "in_progress"`). */
export const BATCH_STATUS = defineSearchAttributeKey('BatchStatus', SearchAttributeType.KEYWORD);
export const BATCH_MODEL = defineSearchAttributeKey('BatchModel', SearchAttributeType.KEYWORD);
export const BATCH_TENANT = defineSearchAttributeKey('BatchTenant', SearchAttributeType.KEYWORD);

/** The stream-to-batch queue a batch was cut from; also set on the queue's dispatcher workflow. */
export const BATCH_QUEUE = defineSearchAttributeKey('BatchQueue', SearchAttributeType.KEYWORD);

export const BATCH_SEARCH_ATTRIBUTES = [BATCH_STATUS, BATCH_MODEL, BATCH_TENANT, BATCH_QUEUE];
