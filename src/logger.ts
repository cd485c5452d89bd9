import pino from 'pino';

/** One structured logger for the process; modules derive children carrying their context (batch_id, component). */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export type Logger = pino.Logger;
