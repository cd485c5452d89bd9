import { z } from 'zod';

/** Timestamps in OpenAI's objects: whole seconds since the epoch. */
export const UnixSeconds = z.number().int().nonnegative();

export const toUnixSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

export const toUnixSecondsOrNull = (date: Date | null): number | null => (date === null ? null : toUnixSeconds(date));
