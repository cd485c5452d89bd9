import type { z } from 'zod';
import { isStorableText } from '../text';
import { invalidRequest } from './errors';

/**
 * Parses a request part with its schema; the first problem becomes a 400 naming the offending param.
 * Before the schema, every string and key is checked once for what no parameter may hold: text
 * PostgreSQL cannot store (NUL, unpaired surrogates) and `__proto__` keys, which JSON.parse keeps
 * as own properties but object handling would silently drop or misread. Without `textChecks` (for
 * request bodies stored as JSON text, which may hold any valid JSON) the schema alone decides.
 */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, options: { textChecks: boolean } = { textChecks: true }): z.output<S> {
  const hostile = options.textChecks ? findHostileText(value) : null;
  if (hostile) {
    const param = hostile.path.length > 0 ? hostile.path.join('.') : null;
    throw invalidRequest(param ? `Invalid '${param}': ${hostile.reason}` : hostile.reason, param, 'invalid_value');
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // An unknown field is named as the param, as the field missing or wrong would be.
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
  const param = path.length > 0 ? path.join('.') : null;
  if (param !== null && issue.code !== 'unrecognized_keys' && valueAt(value, issue.path) === undefined) {
    throw invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  }
  throw invalidRequest(param ? `Invalid '${param}': ${issue.message}` : issue.message, param, 'invalid_value');
}

type Hostile = { path: string[]; reason: string };

type Visit = { value: unknown; key: string; parent: Visit | null };

/**
 * The first string or key no parameter may hold; a bad key is reported at its object's path.
 * Iterative, with paths built only when needed: a 1 MB body can nest half a million levels deep.
 */
function findHostileText(value: unknown): Hostile | null {
  const pending: Visit[] = [{ value, key: '', parent: null }];
  for (let visit = pending.pop(); visit; visit = pending.pop()) {
    const current = visit.value;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return { path: pathOf(visit), reason: 'must not contain NUL characters or unpaired surrogates' };
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    const entries = Object.entries(current);
    for (const [key] of entries) {
      if (key === '__proto__') return { path: pathOf(visit), reason: "'__proto__' is not allowed as a key" };
      if (!isStorableText(key)) return { path: pathOf(visit), reason: 'keys must not contain NUL characters or unpaired surrogates' };
    }
    for (const [key, item] of entries.reverse()) pending.push({ value: item, key, parent: visit });
  }
  return null;
}

function pathOf(visit: Visit): string[] {
  const path: string[] = [];
  for (let at: Visit | null = visit; at?.parent; at = at.parent) path.push(at.key);
  return path.reverse();
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
