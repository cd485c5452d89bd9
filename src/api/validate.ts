import type { z } from 'zod';
import { invalidRequest } from './errors';

/** Parses a request part with its schema; the first problem becomes a 400 naming the offending param. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.length > 0 ? issue.path.join('.') : null;
  if (param !== null && valueAt(value, issue.path) === undefined) {
    throw invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  }
  throw invalidRequest(param ? `Invalid '${param}': ${issue.message}` : issue.message, param, 'invalid_value');
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
