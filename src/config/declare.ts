import { z } from 'zod';
import { logger } from '../logger';
import { registerSecrets } from '../secrets';
import { parseEnv } from './env';

/**
 * Who reads a setting. The service's roles (`api`, `orchestrator`, `inference`: the GPU worker) and
 * the simulator; the launchers that read settings of their own: `start` (`npm start`, which embeds
 * what is unset), `worker` (`npm run worker`, which picks the worker roles), `tools` (the one-shot
 * `migrate` job and `vbs keys`) and `cluster` (`npm run cluster`, a supervisor with settings of its own).
 */
export const ROLES = ['api', 'orchestrator', 'inference', 'simulator', 'start', 'worker', 'tools', 'cluster'] as const;
export type Role = (typeof ROLES)[number];

/**
 * One setting, declared once: its parse (the environment's string to the typed value, with its
 * default and validation), the roles that read it, and its README row.
 */
export type Declaration<S extends z.ZodType = z.ZodType, R extends Role = Role> = Readonly<{
  schema: S;
  roles: readonly R[];
  /** The README's "meaning". */
  doc: string;
  /** The README's default, where the parsed default alone would not say it (`discovered`, `(200 MB)`). */
  defaultDoc?: string;
  /**
   * Owned by its one role, which publishes the value it runs with in PostgreSQL at start
   * (src/config/published.ts); every other role uses that value, never its own environment's.
   */
  published?: boolean;
  /** What of its value must never be shown: registered with the log scrubber in every process given it. */
  secret?(value: z.output<S>): Iterable<string | undefined>;
}>;

export type Catalogue = Readonly<Record<string, Declaration>>;

type Extras<S extends z.ZodType> = Pick<Declaration<S>, 'defaultDoc' | 'published' | 'secret'>;

/** A setting read by `roles`, parsed by `schema`; `more` keeps its literal types (`published: true` is seen by the types). */
export function setting<S extends z.ZodType, const R extends Role, const M extends Extras<S> = Record<never, never>>(
  roles: readonly R[],
  schema: S,
  doc: string,
  more?: M,
): Declaration<S, R> & M {
  return { schema, roles, doc, ...more } as Declaration<S, R> & M;
}

/** The names of `catalogue` that any of `R` reads. */
export type NameOf<C extends Catalogue, R extends Role> = { [K in keyof C & string]: [Extract<C[K]['roles'][number], R>] extends [never] ? never : K }[keyof C & string];

/** Settings by name, each typed by its declaration's parse. */
export type Parsed<C extends Catalogue, N extends keyof C> = { readonly [K in N]: z.output<C[K]['schema']> };

/** A rule across settings, checked when a parse includes all of them. */
export type Constraint = Readonly<{ names: readonly string[]; path: string; message: string; holds(values: Readonly<Record<string, unknown>>): boolean }>;

export const namesOf = <C extends Catalogue, R extends Role>(catalogue: C, roles: readonly R[]): NameOf<C, R>[] =>
  Object.keys(catalogue).filter((name) => catalogue[name]!.roles.some((role) => (roles as readonly Role[]).includes(role))) as NameOf<C, R>[];

/**
 * Parses the settings `names` of `catalogue` from `env`, or throws one line naming every offending
 * variable. Applies LOG_LEVEL when it is among them, so a bad level is one clear line like any other,
 * and registers with the log scrubber the secrets of every secret setting `env` holds, whoever reads it.
 */
export function parseSettings<C extends Catalogue, N extends keyof C & string>(
  catalogue: C,
  names: readonly N[],
  env: NodeJS.ProcessEnv,
  constraints: readonly Constraint[] = [],
): Parsed<C, N> {
  const shape = Object.fromEntries(names.map((name) => [name, catalogue[name]!.schema]));
  const applicable = constraints.filter((c) => c.names.every((name) => (names as readonly string[]).includes(name)));
  const schema = z.object(shape).superRefine((values, ctx) => {
    for (const c of applicable) if (!c.holds(values)) ctx.addIssue({ code: 'custom', message: c.message, path: [c.path] });
  });
  const parsed = parseEnv(schema, env) as Record<string, unknown>;
  if (typeof parsed.LOG_LEVEL === 'string') logger.level = parsed.LOG_LEVEL;
  // From here on no log line can carry a secret of the configuration, whoever writes it. A secret
  // setting of another role is scrubbed too: it is in this process's environment all the same.
  for (const [name, declaration] of Object.entries(catalogue)) {
    if (!declaration.secret || env[name] === undefined) continue;
    const value = name in parsed ? { success: true as const, data: parsed[name] } : declaration.schema.safeParse(env[name]);
    if (value.success) registerSecrets(declaration.secret(value.data));
  }
  return parsed as Parsed<C, N>;
}
