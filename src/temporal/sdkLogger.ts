import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import { logger } from '../logger';

const PINO_LEVEL = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * Routes the Temporal SDK's logs into our structured log at `minimum` and above. Inference-only
 * workers poll no workflows by design, so the SDK's warning about that is kept at debug.
 */
export function sdkLogger(minimum: LogLevel): SdkLogger {
  const order: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
  const log = logger.child({ component: 'temporal-sdk' });
  const emit = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const effective = message.startsWith('No workflows registered') ? 'DEBUG' : level;
    if (order.indexOf(effective) < order.indexOf(minimum)) return;
    // The SDK reports failures as `error`; pino serializes an Error (message, stack, cause) only as `err`.
    const { error, ...rest } = meta ?? {};
    log[PINO_LEVEL[effective]](error instanceof Error ? { ...rest, err: error } : { ...meta }, message);
  };
  return {
    log: emit,
    trace: (message, meta) => emit('TRACE', message, meta),
    debug: (message, meta) => emit('DEBUG', message, meta),
    info: (message, meta) => emit('INFO', message, meta),
    warn: (message, meta) => emit('WARN', message, meta),
    error: (message, meta) => emit('ERROR', message, meta),
  };
}
