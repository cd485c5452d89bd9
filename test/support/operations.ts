import { z } from 'zod';
import { OPERATIONS } from '../../src/api/operations';
import { failuresOf } from '../../src/api/openapi';
import type { Operation } from '../../src/api/operation';
import { ErrorResponse } from '../../src/api/schemas';

/**
 * The API's operation table (src/api/operations.ts) as the suites that walk it see it: which
 * operation a request reached, its path with ids filled in, and whether an answer is one the
 * operation documents.
 */

const matchers = OPERATIONS.map((op) => ({
  op,
  pattern: new RegExp(`^${op.path.replace(/\{\w+\}/g, '[^/]+')}$`),
}));

/** The operation a request to `url` with `method` reaches, if any. */
export function operationOf(method: string, url: string): Operation | undefined {
  const path = new URL(url, 'http://any').pathname;
  return matchers.find(({ op, pattern }) => op.method === method.toLowerCase() && pattern.test(path))?.op;
}

/** The names of an operation's path parameters, in order. */
export const pathParams = (op: Operation) => [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

/** `op`'s path with each parameter taken from `ids`; a parameter `ids` lacks fails loudly, so a new one is never skipped. */
export function pathWith(op: Operation, ids: Record<string, string>): string {
  return op.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`no id for {${name}} of ${op.operationId}: add one to this suite's fixtures`);
    return encodeURIComponent(id);
  });
}

/** Whether a JSON answer of `op` is what its document says: its response schema on success, else a declared failure. */
export function checkAnswer(op: Operation, status: number, body: unknown): void {
  if (status === 200) {
    if (op.response instanceof z.ZodType) op.response.parse(body);
    return;
  }
  const { error } = ErrorResponse.parse(body);
  if (!failuresOf(op).some((f) => f.status === status && f.code === error.code)) {
    throw new Error(`${op.operationId} answered ${status} ${error.code}, which its table entry does not declare`);
  }
}

/**
 * A fetch that notes, for each operation of the table, that it was called and answered as its document
 * says (a 2xx body parsed with the response schema): what the conformance suite checks covers every operation.
 */
export function coverageRecorder() {
  const answered = new Set<string>();
  const problems: string[] = [];
  const fetchRecording: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const url = input instanceof Request ? input.url : String(input);
    const op = operationOf(init?.method ?? (input instanceof Request ? input.method : 'GET'), url);
    if (op && response.ok && (response.headers.get('content-type') ?? '').includes('application/json')) {
      try {
        checkAnswer(op, response.status, await response.clone().json());
        answered.add(op.operationId);
      } catch (err) {
        problems.push(`${op.operationId}: ${(err as Error).message}`);
      }
    } else if (op && response.ok && !(op.response instanceof z.ZodType)) answered.add(op.operationId);
    return response;
  };
  return {
    fetch: fetchRecording,
    /** The operations of the table never answered with a documented success, and every answer that broke its schema. */
    report: () => ({ missing: OPERATIONS.map((op) => op.operationId).filter((id) => !answered.has(id)), problems }),
  };
}
