import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateApiKey, hashApiKey } from '../api/keys';
import { loadConfig, type Config } from '../config';
import { ConfigError } from '../config/env';
import { migrate } from '../db/migrate';
import { createPool, type Db } from '../db/pool';
import { logger } from '../logger';
import { insertApiKey, listApiKeys, revokeApiKey } from '../store/apiKeys';

const USAGE = `Manage API keys (stored hashed in PostgreSQL; the API accepts them at once, alongside API_KEYS).

  npm run --silent keys -- create --tenant <tenant> [--name <label>]   prints the new key, once
  npm run --silent keys -- list
  npm run --silent keys -- revoke <key-id>                             takes effect on the next request

Connects to DATABASE_URL, else to the embedded PostgreSQL of a running \`npm start\` (DATA_DIR, EMBEDDED_POSTGRES_PORT).`;

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tenant: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return;
  }
  const db = createPool(databaseUrl(loadConfig()), 1);
  try {
    await migrate(db);
    if (command === 'create' && rest.length === 0) await create(db, values.tenant, values.name);
    else if (command === 'list' && rest.length === 0) await list(db);
    else if (command === 'revoke' && rest.length === 1) await revoke(db, rest[0]!);
    else throw new UsageError(`unknown command: ${positionals.join(' ')}`);
  } finally {
    await db.end();
  }
}

async function create(db: Db, tenant: string | undefined, name: string | undefined): Promise<void> {
  if (tenant === undefined || !TENANT.test(tenant)) {
    throw new UsageError('--tenant is required: 1-64 letters, digits, dots, dashes or underscores');
  }
  const { id, key, prefix } = generateApiKey();
  await insertApiKey(db, { id, tenantId: tenant, keyHash: hashApiKey(key), keyPrefix: prefix, name: name ?? null });
  // The key alone on stdout, so `KEY=$(npm run --silent keys -- create ...)` captures it.
  console.log(key);
  console.error(`created ${id} for tenant ${tenant}; the key is shown only now, store it safely`);
}

async function list(db: Db): Promise<void> {
  const rows = (await listApiKeys(db)).map((k) => [
    k.id,
    k.tenant_id,
    `${k.key_prefix}…`,
    k.name ?? '',
    k.created_at.toISOString(),
    k.revoked_at?.toISOString() ?? 'active',
  ]);
  const table = [['ID', 'TENANT', 'KEY', 'NAME', 'CREATED', 'REVOKED'], ...rows];
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  for (const row of table)
    console.log(
      row
        .map((cell, col) => cell.padEnd(widths[col]!))
        .join('  ')
        .trimEnd(),
    );
}

async function revoke(db: Db, id: string): Promise<void> {
  const revoked = await revokeApiKey(db, id);
  if (!revoked) throw new UsageError(`no active key ${id} (see \`keys list\`)`);
  console.log(`revoked ${revoked.id} of tenant ${revoked.tenant_id}`);
}

/** The embedded cluster's URL, as `npm start` builds it, when DATABASE_URL is unset. */
function databaseUrl(config: Config): string {
  if (config.databaseUrl) return config.databaseUrl;
  const passwordFile = path.join(config.dataDir, 'postgres.password');
  if (!fs.existsSync(passwordFile)) {
    throw new Error(`DATABASE_URL is unset and there is no embedded PostgreSQL under ${config.dataDir}: set DATABASE_URL, or DATA_DIR`);
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${config.embeddedPostgresPort}/postgres`;
}

// Migration notices would mix with the key on stdout.
logger.level = 'warn';
main(process.argv.slice(2)).catch((err: unknown) => {
  const usage = err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
  console.error(usage || err instanceof ConfigError ? (err as Error).message : `keys: ${(err as Error).message}`);
  if (usage) console.error(USAGE);
  process.exitCode = usage ? 2 : 1;
});
