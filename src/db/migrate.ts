import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Db } from './pool';
import { logger } from '../logger';

const MIGRATIONS_DIR = path.resolve(__dirname, '../../migrations');
// Arbitrary constant shared by every process of this service: serialises concurrent start-ups.
const MIGRATION_LOCK_KEY = 7_402_118_331;

/**
 * Applies every numbered `migrations/NNN_name.sql` not yet applied, each in its own transaction.
 * Safe with several processes starting at once: they queue on an advisory lock.
 */
export async function migrate(db: Db): Promise<void> {
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  // A connection of its own, without the pool's timeouts: a migration rewriting a large table, and
  // the wait for another process's, may take far longer than any statement of the service may.
  const client = new pg.Client({ ...db.options, statement_timeout: 0, query_timeout: undefined });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version);
    for (const { file, version } of pendingMigrations(files, applied)) {
      const sql = await fs.readFile(path.join(MIGRATIONS_DIR, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, file]);
        await client.query('COMMIT');
        logger.info({ migration: file }, 'applied migration');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    // Ending the session also releases the advisory lock.
    await client.end().catch(() => undefined);
  }
}

/**
 * The migrations still to apply, in order. One numbered below the newest applied is refused: it
 * would run after migrations written to follow it, so a fresh database and an upgraded one would
 * end up different (numbers are never reused or filled in; the gap at 002 stays a gap).
 */
export function pendingMigrations(files: string[], applied: number[]): Array<{ file: string; version: number }> {
  const done = new Set(applied);
  const newest = Math.max(0, ...applied);
  const pending = files.map((file) => ({ file, version: Number.parseInt(file, 10) })).filter(({ version }) => !done.has(version));
  const late = pending.find(({ version }) => version < newest);
  if (late) throw new Error(`migration ${late.file} is numbered below ${newest}, the newest applied: give it the next free number`);
  return pending.sort((a, b) => a.version - b.version);
}
