import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { z } from 'zod';
import type { Db } from '../db/pool';
import type { WorkflowGateway } from '../temporal/gateway';
import type { DestinationPolicy } from '../webhooks/destination';
import { ApiError, requireJsonObjectBody, type ErrorType } from './errors';
import { jsonBody } from './jsonBody';
import { tenantOf } from './tenant';
import type { TenantSlots } from './tenantSlots';

/** What every operation's handler may use: built once per API process (src/api/app.ts). */
export type ApiDeps = {
  db: Db;
  workflows: WorkflowGateway;
  webhookPolicy: DestinationPolicy;
  uploads: { maxFileBytes: number; slots: TenantSlots };
  queues: { maxQueuedPerTenant: number; maxRequestsPerCall: number; maxCallBytes: number };
};

export type JsonSchema = Record<string, unknown>;

/** The names of the `{param}`s of an OpenAPI path, as a union of string literals. */
export type PathParams<Path extends string> = Path extends `${string}{${infer Name}}${infer Rest}` ? Name | PathParams<Rest> : never;

export type OperationContext<Path extends string> = {
  deps: ApiDeps;
  tenantId: string;
  params: Record<PathParams<Path>, string>;
  req: Request;
  res: Response;
};

/** A way a call can fail that its client caused: the status and code it answers with, known before any call. */
export type Failure = { status: 400 | 404 | 409 | 413 | 415 | 429; code: string };

/**
 * How one outcome of an operation's use case is answered: a Failure, with what the message and param
 * say of it. An outcome that carries its own code (a line validation's) names the codes it may have.
 */
export type Refusal<O, Ctx> = Omit<Failure, 'code'> & {
  message: (outcome: O, ctx: Ctx) => string;
  param?: (outcome: O) => string | null;
  /** Sent as `Retry-After` (429s): when trying again may work. */
  retryAfterSeconds?: (outcome: O) => number;
} & ({ code: string } | { code: (outcome: O) => string; codes: readonly string[] });

type Outcome = { kind: string };

/** Returned by a `reply` that wrote the response itself (a stream, or JSON already serialised). */
export const WRITTEN = Symbol('response written');

/**
 * One operation of the API, declared once: the route it is mounted at, what the OpenAPI document
 * says of it, and how its use case's outcomes become HTTP. `handle` runs the use case and returns its
 * outcome; an outcome whose `kind` is in `refuse` is answered with that refusal, any other goes to
 * `reply`, whose result is the 200's JSON body.
 */
export type OperationSpec<Path extends string, O extends Outcome, Refused extends O['kind']> = {
  method: 'get' | 'post' | 'delete';
  /** The OpenAPI path, `{name}` for each parameter; mounted as Express's `:name`. */
  path: Path;
  operationId: string;
  summary: string;
  query?: { schema: z.ZodObject; onlyFor?: string };
  /** The request body's schema per content type: a named zod schema, or a raw JSON schema. */
  body?: Record<string, z.ZodType | JsonSchema>;
  /** The JSON body size limit, if not the default 1 MB. */
  jsonLimit?: (deps: ApiDeps) => number;
  /** A named schema for JSON, or a raw schema for another content type. */
  response: z.ZodType | { contentType: string; schema: JsonSchema };
  /** Takes an Idempotency-Key header (extension). */
  idempotent?: boolean;
  /** Failures the handler throws while reading the request (upload limits, malformed forms), for the document. */
  raises?: Failure[];
  handle: (ctx: OperationContext<Path>) => Promise<O>;
  refuse: { [Kind in Refused]: Refusal<Extract<O, { kind: Kind }>, OperationContext<Path>> };
  reply: (outcome: Exclude<O, { kind: Refused }>, ctx: OperationContext<Path>) => unknown;
};

/** An operation as the table holds it: its declaration without its types, and its Express handler. */
export type Operation = Omit<OperationSpec<string, Outcome, string>, 'handle' | 'refuse' | 'reply'> & {
  /** Every failure of this operation a client can cause, besides those of authentication and validation. */
  failures: Failure[];
  run: (deps: ApiDeps, req: Request, res: Response) => Promise<void>;
};

export function defineOperation<const Path extends string, O extends Outcome, Refused extends O['kind'] = never>(spec: OperationSpec<Path, O, Refused>): Operation {
  const { handle, refuse, reply, ...declaration } = spec;
  const refusals = refuse as unknown as Record<string, Refusal<O, OperationContext<Path>> | undefined>;
  return {
    ...declaration,
    failures: [
      ...Object.values(refusals).flatMap((refusal) =>
        refusal === undefined ? [] : ('codes' in refusal ? refusal.codes : [refusal.code]).map((code) => ({ status: refusal.status, code })),
      ),
      ...(spec.raises ?? []),
    ],
    run: async (deps, req, res) => {
      const ctx: OperationContext<Path> = { deps, tenantId: tenantOf(res), params: req.params as Record<PathParams<Path>, string>, req, res };
      const outcome = await handle(ctx);
      const refusal = refusals[outcome.kind];
      if (refusal) {
        if (refusal.retryAfterSeconds) res.setHeader('Retry-After', String(refusal.retryAfterSeconds(outcome)));
        const code = typeof refusal.code === 'string' ? refusal.code : refusal.code(outcome);
        throw new ApiError(refusal.status, errorTypeOf(refusal.status), code, refusal.message(outcome, ctx), refusal.param?.(outcome) ?? null);
      }
      const body = await reply(outcome as Exclude<O, { kind: Refused }>, ctx);
      if (body !== WRITTEN) res.json(body);
    },
  };
}

/** A refusal's error type follows from its status, as OpenAI's do. */
const errorTypeOf = (status: Failure['status']): ErrorType => (status === 429 ? 'rate_limit_error' : 'invalid_request_error');

/** The refusal of an id the tenant owns nothing by (another tenant's ids included): 404, never 403. */
export const notFound = (what: string, param: string): Refusal<unknown, { params: Record<string, string> }> => ({
  status: 404,
  code: 'not_found',
  message: (_outcome, ctx) => `No such ${what}: '${ctx.params[param]}'`,
});

/** A use case's `undefined` (no such object for this tenant) as an outcome a table entry can refuse. */
export const found = <T>(value: T | undefined): { kind: 'found'; value: T } | { kind: 'not_found' } =>
  value === undefined ? { kind: 'not_found' } : { kind: 'found', value };

/** Express's path syntax for an OpenAPI path under `/v1`. */
export const expressPath = (path: string) => path.replace(/^\/v1/, '').replace(/\{(\w+)\}/g, ':$1');

/**
 * Mounts every operation of `operations` on a router: its JSON body parser (with its limit), the
 * JSON-object check where it takes a JSON body, then its handler. Each request is labelled with the
 * operation's path for the request metrics.
 */
export function operationsRouter(operations: readonly Operation[], deps: ApiDeps): Router {
  const router = Router();
  for (const op of operations) {
    const takesJson = op.body?.['application/json'] !== undefined;
    const handlers: RequestHandler[] = [
      (_req, res, next) => {
        res.locals.route = op.path;
        next();
      },
      jsonBody(op.jsonLimit?.(deps) ?? '1mb'),
      ...(takesJson ? [requireJsonObjectBody] : []),
      (req, res) => op.run(deps, req, res),
    ];
    router[op.method](expressPath(op.path), ...handlers);
  }
  return router;
}
