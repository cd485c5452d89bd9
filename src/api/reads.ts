import type { z } from 'zod';
import { defineOperation, found, notFound, type ApiDeps, type Operation } from './operation';
import { listObject, unknownCursor } from './pagination';
import { parseRequest } from './validate';

/** A list query: OpenAI's cursor (`after`, an object's id) and page size, besides its own filters. */
type PageQuery = z.ZodObject<{ after: z.ZodOptional<z.ZodString>; limit: z.ZodDefault<z.ZodType<number>> }>;

/**
 * A cursor-paged list of the tenant's objects (OpenAI's list object). `list` fetches one more than
 * `limit` (that one says `has_more`), or answers undefined when `after` names nothing the tenant owns.
 */
export function listOperation<Query extends PageQuery, Item extends { id: string }>(spec: {
  path: `/v1/${string}`;
  operationId: string;
  summary: string;
  query: Query;
  response: z.ZodType;
  /** What an `after` that names nothing is said to be no such one of. */
  what: string;
  list: (deps: ApiDeps, tenantId: string, query: z.output<Query>) => Promise<Item[] | undefined>;
}): Operation {
  const { query, what, list, ...declaration } = spec;
  return defineOperation({
    ...declaration,
    method: 'get',
    query: { schema: query },
    handle: async ({ deps, tenantId, req }) => {
      const page = parseRequest(query, req.query);
      const items = await list(deps, tenantId, page);
      if (!items) throw unknownCursor(what, page.after!);
      return { kind: 'page', list: listObject(items, page.limit) };
    },
    refuse: {},
    reply: (outcome) => outcome.list,
  });
}

/** One of the tenant's objects by its id; another tenant's id is as unknown as one never made. */
export function retrieveOperation<Path extends `/v1/${string}/{${string}}`, Item>(spec: {
  path: Path;
  operationId: string;
  summary: string;
  response: z.ZodType;
  /** What an unknown id is said to be no such one of, and the path parameter holding it. */
  what: string;
  param: string;
  find: (deps: ApiDeps, tenantId: string, id: string) => Promise<Item | undefined>;
}): Operation {
  const { what, param, find, ...declaration } = spec;
  return defineOperation({
    ...declaration,
    method: 'get',
    handle: async ({ deps, tenantId, params }) => found(await find(deps, tenantId, (params as Record<string, string>)[param]!)),
    refuse: { not_found: notFound(what, param) },
    reply: (outcome) => outcome.value,
  });
}
