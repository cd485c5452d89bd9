import type { z } from 'zod';
import { invalidRequest } from './errors';

/** Parses a request part with its schema; the first problem becomes a 400 naming the offending param. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.length > 0 ? issue.path.join('.') : null;
  throw invalidRequest(param ? `Invalid '${param}': ${issue.message}` : issue.message, param, 'invalid_value');
}
