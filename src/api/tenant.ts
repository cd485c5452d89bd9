import type { Response } from 'express';

/** The tenant everything is owned by in open mode (no API keys configured). */
export const OPEN_MODE_TENANT = 'default';

/** The authenticated tenant of this request, set by the auth middleware. */
export const tenantOf = (res: Response): string => res.locals.tenantId as string;
