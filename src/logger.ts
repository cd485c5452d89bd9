import pino from 'pino';
import { scrubSecrets } from './secrets';

/**
 * One structured logger for the process; modules derive children carrying their context (batch_id,
 * component) when they start work, not at import: the level (`LOG_LEVEL`) is applied once the
 * configuration is parsed, and a child keeps the level it was made with.
 *
 * No secret leaves through it: fields that hold credentials by name are censored, and every line is
 * scrubbed of the configuration's secrets before it is written (src/secrets.ts), whichever field or
 * library message carried them.
 */
export const logger = pino({
  level: 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: {
    paths: ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'apiKey', '*.apiKey', 'secret', '*.secret', 'password', '*.password'],
    censor: '[redacted]',
  },
  hooks: { streamWrite: scrubSecrets },
});

export type Logger = pino.Logger;
