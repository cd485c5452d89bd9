import pino from 'pino';

/**
 * One structured logger for the process; modules derive children carrying their context (batch_id,
 * component) when they start work, not at import: the level (`LOG_LEVEL`) is applied once the
 * configuration is parsed, and a child keeps the level it was made with.
 */
export const logger = pino({
  level: 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = pino.Logger;
