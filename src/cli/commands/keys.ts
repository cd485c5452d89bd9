import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { generateApiKey, hashApiKey } from '../../api/apiKeys';
import { loadSettings, type Settings } from '../../config';
import { migrate } from '../../db/migrate';
import { createPool, type Db } from '../../db/pool';
import { logger } from '../../logger';
import { OPERATOR_DEFAULT_TENANT, type KeyScope } from '../../states/apiKey';
import { insertApiKey, listApiKeys, revokeApiKey } from '../../store/apiKeys';
import type { GlobalOptions } from '../client';
import { printJson, printTable, UsageError } from '../output';

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * API keys, stored hashed in PostgreSQL; the API accepts a new one at once, alongside API_KEYS.
 * Unlike every other command these talk to the database, not the API: the API has no key
 * management endpoint, so only whoever can reach the database can mint keys.
 */
export function registerKeyCommands(program: Command, globals: () => GlobalOptions): void {
  const keys = program
    .command('keys')
    .description('create, list and revoke API keys (connects to PostgreSQL directly: DATABASE_URL, else the embedded one of `npm start` under DATA_DIR)');

  keys
    .command('create')
    .description('create a key for a tenant (or, with --operator, an operator key); prints the key, once')
    .option('--tenant <tenant>', 'tenant the key acts for: 1-64 letters, digits, dots, dashes or underscores (required for a tenant key)')
    .option(
      '--operator',
      `an operator key: also let into the service's details (/readyz backends, /metrics) and cross-tenant reports; acts for --tenant, else "${OPERATOR_DEFAULT_TENANT}"`,
      false,
    )
    .option('--name <label>', 'a label to recognise the key by')
    .action(async (options: { tenant?: string; operator: boolean; name?: string }) => {
      const scope: KeyScope = options.operator ? 'operator' : 'tenant';
      const tenant = options.tenant ?? (options.operator ? OPERATOR_DEFAULT_TENANT : undefined);
      if (tenant === undefined) throw new UsageError("required option '--tenant <tenant>' not specified");
      if (!TENANT.test(tenant)) throw new UsageError('--tenant must be 1-64 letters, digits, dots, dashes or underscores');
      await withDb(async (db) => {
        const { id, key, prefix } = generateApiKey();
        const row = await insertApiKey(db, { id, tenantId: tenant, scope, keyHash: hashApiKey(key), keyPrefix: prefix, name: options.name ?? null });
        // The key alone on stdout, so `KEY=$(vbs keys create ...)` captures it.
        if (globals().json) printJson({ ...row, key });
        else console.log(key);
        console.error(`created ${scope} key ${id} for tenant ${tenant}; the key is shown only now, store it safely`);
      });
    });

  keys
    .command('list')
    .description('every key: ID, tenant, scope, key prefix, name, creation and revocation (never the key)')
    .action(async () => {
      await withDb(async (db) => {
        const rows = await listApiKeys(db);
        if (globals().json) return printJson(rows);
        printTable(
          ['ID', 'TENANT', 'SCOPE', 'KEY', 'NAME', 'CREATED', 'REVOKED'],
          rows.map((k) => [k.id, k.tenant_id, k.scope, `${k.key_prefix}…`, k.name ?? '', k.created_at.toISOString(), k.revoked_at?.toISOString() ?? 'active']),
        );
      });
    });

  keys
    .command('revoke')
    .description('revoke a key: refused from the very next request')
    .argument('<key-id>', 'the key ID (see `vbs keys list`)')
    .action(async (id: string) => {
      await withDb(async (db) => {
        const revoked = await revokeApiKey(db, id);
        if (!revoked) throw new UsageError(`no active key ${id} (see \`vbs keys list\`)`);
        if (globals().json) printJson(revoked);
        else console.log(`revoked ${revoked.id} of tenant ${revoked.tenant_id}`);
      });
    });
}

async function withDb(work: (db: Db) => Promise<void>): Promise<void> {
  const config = loadSettings(['tools']);
  // Migration notices would mix with the key on stdout; after the parse, which applies LOG_LEVEL.
  logger.level = 'warn';
  const db = createPool(databaseUrl(config), 1);
  try {
    await migrate(db);
    await work(db);
  } finally {
    await db.end();
  }
}

/** The embedded cluster's URL, as `npm start` builds it, when DATABASE_URL is unset. */
function databaseUrl(config: Settings<'tools'>): string {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const dataDir = path.resolve(config.DATA_DIR);
  const passwordFile = path.join(dataDir, 'postgres.password');
  if (!fs.existsSync(passwordFile)) {
    throw new Error(`DATABASE_URL is unset and there is no embedded PostgreSQL under ${dataDir}: set DATABASE_URL, or DATA_DIR`);
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${config.EMBEDDED_POSTGRES_PORT}/postgres`;
}
