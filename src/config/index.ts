import { namesOf, parseSettings, type Role } from './declare';
import { PUBLISHED_NAMES } from './published';
import { CONSTRAINTS, SERVICE_ROLES, SETTINGS, type PublishedSettings, type ServiceRole, type Settings } from './settings';

export type { ServiceRole, Settings } from './settings';

/**
 * What a process of the service runs with: the settings of each role it plays, and the values it was
 * given for settings another role owns and publishes, which must agree with the owner's at start
 * (src/config/published.ts). A role's code receives its own settings only.
 */
export type ServiceConfig = Readonly<{
  api?: Settings<'api'>;
  orchestrator?: Settings<'orchestrator'>;
  inference?: Settings<'inference'>;
  given: Partial<PublishedSettings>;
}>;

/**
 * The settings `roles` read, parsed once at start-up; everything else receives the typed object.
 * Settings of other roles in `env` are not looked at: operators share one environment file across roles.
 */
export function loadSettings<const R extends Role>(roles: readonly R[], env: NodeJS.ProcessEnv = process.env): Settings<R> {
  return parseSettings(SETTINGS, namesOf(SETTINGS, roles), env, CONSTRAINTS);
}

/** A process of the service playing `roles`. */
export function loadServiceConfig(roles: readonly ServiceRole[], env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return load(roles, env).service;
}

/** `npm start`: every role of the service, and the launcher's own settings (what to embed), in one parse. */
export function loadEmbeddedConfig(env: NodeJS.ProcessEnv = process.env): { service: ServiceConfig; start: Settings<'start'> } {
  const { service, view } = load([...SERVICE_ROLES, 'start'], env);
  return { service, start: view('start')! };
}

function load(roles: readonly (ServiceRole | 'start')[], env: NodeJS.ProcessEnv) {
  const reads = (name: keyof typeof SETTINGS) => SETTINGS[name].roles.some((role) => (roles as readonly Role[]).includes(role));
  // A published setting of another role, given here (a blank value, as compose passes `${X:-}`, is no value).
  const given = PUBLISHED_NAMES.filter((name) => !reads(name) && (env[name]?.trim() ?? '') !== '');
  const parsed = parseSettings(SETTINGS, [...namesOf(SETTINGS, roles), ...given], env, CONSTRAINTS);
  // Each role played gets its own settings out of the one parse, and nothing else.
  const view = <V extends ServiceRole | 'start'>(role: V) =>
    (roles as readonly Role[]).includes(role) ? (pick(parsed, namesOf(SETTINGS, [role])) as Settings<V>) : undefined;
  const service: ServiceConfig = {
    api: view('api'),
    orchestrator: view('orchestrator'),
    inference: view('inference'),
    given: pick(parsed, given),
  };
  return { service, view };
}

const pick = (values: Readonly<Record<string, unknown>>, names: readonly string[]) =>
  Object.fromEntries(names.filter((name) => name in values).map((name) => [name, values[name]]));
