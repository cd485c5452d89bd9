import os from 'node:os';
import type { Queryable } from '../db/pool';
import { logger } from '../logger';
import { readPublishedSettings, writePublishedSettings, type PublishedRow } from '../store/publishedSettings';
import type { Declaration } from './declare';
import { ConfigError } from './env';
import { SETTINGS, type PublishedName, type PublishedSettings, type SettingName } from './settings';

/**
 * Settings one role owns and others need: the orchestrator's queue defaults, its batch size limit
 * and default model, which the API needs to answer queue calls as the orchestrator will act on them.
 * The owner publishes the values it runs with in PostgreSQL when it starts, as GPU workers announce
 * their models; the others read them there, never from their own environment. A process given one
 * of these settings anyway (operators share one environment file across roles) is refused at start
 * only when its value differs from the published one: that is a deployment that disagrees with itself.
 */
export const PUBLISHED_NAMES = (Object.keys(SETTINGS) as SettingName[]).filter((name): name is PublishedName => (SETTINGS[name] as Declaration).published === true);

/** Nothing is published yet: no owner has started on this database. The API answers 503 meanwhile. */
export class SettingsNotPublished extends Error {}

/** Publishes the owner's values; says which ones it changed, since other owners still running keep theirs until restarted. */
export async function publishSettings(db: Queryable, owner: PublishedSettings): Promise<void> {
  const values = Object.fromEntries(PUBLISHED_NAMES.map((name) => [name, owner[name] ?? null]));
  const changed = await writePublishedSettings(db, values, `${os.hostname()} pid ${process.pid}`);
  for (const { name, previous } of changed) {
    logger.warn({ setting: name, from: previous, to: values[name] }, 'this process changed a published setting: other roles use the new value from now on');
  }
}

/** The values the owners run with, or SettingsNotPublished. */
export async function publishedValues(db: Queryable): Promise<PublishedSettings> {
  const rows = await readPublishedSettings(db, PUBLISHED_NAMES);
  const missing = PUBLISHED_NAMES.filter((name) => !rows.has(name));
  if (missing.length > 0) throw new SettingsNotPublished(`not published yet: ${missing.join(', ')}`);
  return Object.fromEntries(PUBLISHED_NAMES.map((name) => [name, valueOf(name, rows.get(name)!)])) as PublishedSettings;
}

/**
 * Refuses the start of a process given a value, for a setting another role owns, that differs from
 * the one the owner published. Nothing published yet: nothing to disagree with, and the owner's
 * value will apply once it starts.
 */
export async function refuseConflicts(db: Queryable, given: Partial<PublishedSettings>): Promise<void> {
  const names = PUBLISHED_NAMES.filter((name) => name in given);
  if (names.length === 0) return;
  const rows = await readPublishedSettings(db, names);
  const conflicts = names.flatMap((name) => {
    const row = rows.get(name);
    if (!row || valueOf(name, row) === given[name]) return [];
    const owner = SETTINGS[name].roles.join(', ');
    return [`${name}=${shown(given[name])} here, but the ${owner} (${row.published_by}, ${row.published_at.toISOString()}) runs with ${shown(valueOf(name, row))}`];
  });
  if (conflicts.length > 0) {
    throw new ConfigError(
      `conflicting configuration: ${conflicts.join('; ')}. These settings belong to the role that publishes them: set them there (restart it first when changing one), or leave them out here (README: Configuration)`,
    );
  }
}

/** A stored value, read back through its setting's own parse: a number or a string, null for unset. */
function valueOf(name: PublishedName, row: PublishedRow): PublishedSettings[PublishedName] {
  return SETTINGS[name].schema.parse(row.value === null ? undefined : String(row.value));
}

const shown = (value: PublishedSettings[PublishedName]) => (value === undefined ? 'it unset' : String(value));
