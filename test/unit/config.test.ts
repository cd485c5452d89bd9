import fs from 'node:fs';
import path from 'node:path';
import { loadEmbeddedConfig, loadServiceConfig, loadSettings } from '../../src/config';
import { ConfigError } from '../../src/config/env';
import { PUBLISHED_NAMES } from '../../src/config/published';
import { SETTINGS } from '../../src/config/settings';
import { logger } from '../../src/logger';

describe('limits', () => {
  test("default to OpenAI's: 200 MB per file, 50,000 requests per batch", () => {
    expect(loadSettings(['api'], {})).toMatchObject({ MAX_FILE_BYTES: 200 * 1024 * 1024, MAX_CONCURRENT_UPLOADS_PER_TENANT: 8 });
    expect(loadSettings(['orchestrator'], {}).MAX_REQUESTS_PER_BATCH).toBe(50_000);
  });

  test('go to at least 2 GB and 1,000,000 requests', () => {
    expect(loadSettings(['api'], { MAX_FILE_BYTES: String(2 * 1024 ** 3) }).MAX_FILE_BYTES).toBe(2 * 1024 ** 3);
    expect(loadSettings(['orchestrator'], { MAX_REQUESTS_PER_BATCH: '1000000' }).MAX_REQUESTS_PER_BATCH).toBe(1_000_000);
  });

  test('reject nonsense with one line naming the variable', () => {
    expect(() => loadSettings(['api'], { MAX_FILE_BYTES: '2GB' })).toThrow(/^invalid configuration: MAX_FILE_BYTES: [^;]*$/);
    expect(() => loadSettings(['orchestrator'], { MAX_REQUESTS_PER_BATCH: '0' })).toThrow(/^invalid configuration: MAX_REQUESTS_PER_BATCH: [^;]*$/);
  });
});

describe('slow clients and pools', () => {
  test('have defaults that keep a trickling client from holding anything for long', () => {
    expect(loadSettings(['api'], {})).toMatchObject({
      HTTP_HEADERS_TIMEOUT_MS: 20_000,
      HTTP_IDLE_TIMEOUT_MS: 60_000,
      HTTP_REQUEST_TIMEOUT_MS: 3_600_000,
      API_DB_POOL_SIZE: 10,
      DB_CONNECT_TIMEOUT_MS: 10_000,
      DB_STATEMENT_TIMEOUT_MS: 60_000,
    });
    expect(loadSettings(['orchestrator'], {}).WORKER_DB_POOL_SIZE).toBe(10);
    expect(loadSettings(['inference'], { DB_CONNECT_TIMEOUT_MS: '2500', DB_STATEMENT_TIMEOUT_MS: '300000' })).toMatchObject({
      DB_CONNECT_TIMEOUT_MS: 2_500,
      DB_STATEMENT_TIMEOUT_MS: 300_000,
    });
  });

  test('refuse a pool too small to serve a request and its health probe', () => {
    expect(() => loadSettings(['api'], { API_DB_POOL_SIZE: '1' })).toThrow(/API_DB_POOL_SIZE/);
    expect(() => loadSettings(['api'], { HTTP_IDLE_TIMEOUT_MS: '10' })).toThrow(/HTTP_IDLE_TIMEOUT_MS/);
  });
});

describe('API_KEYS and OPERATOR_API_KEYS', () => {
  test('map `key` and `key:tenant` entries to tenants, with their scope', () => {
    const { API_KEYS, OPERATOR_API_KEYS } = loadSettings(['api'], { API_KEYS: 'k1:acme, k2 ,k3:globex', OPERATOR_API_KEYS: 'op1,op2:ops' });
    expect([...API_KEYS, ...OPERATOR_API_KEYS]).toEqual([
      ['k1', { tenantId: 'acme', scope: 'tenant' }],
      ['k2', { tenantId: 'tenant-2', scope: 'tenant' }],
      ['k3', { tenantId: 'globex', scope: 'tenant' }],
      ['op1', { tenantId: 'operator', scope: 'operator' }],
      ['op2', { tenantId: 'ops', scope: 'operator' }],
    ]);
  });
});

describe('METRICS_PORT', () => {
  test('is unset unless given (a worker then takes 9464, an API process keeps /metrics on its port); the bearer token is optional', () => {
    const unset = loadSettings(['inference'], {});
    expect([unset.METRICS_PORT, unset.METRICS_BEARER_TOKEN]).toEqual([undefined, undefined]);
    expect(loadSettings(['api'], { METRICS_PORT: '0', METRICS_BEARER_TOKEN: 'scrape-token' })).toMatchObject({ METRICS_PORT: 0, METRICS_BEARER_TOKEN: 'scrape-token' });
  });
});

describe('LOG_LEVEL', () => {
  test('is applied to the logger by the one config parse', () => {
    loadSettings(['api'], { LOG_LEVEL: 'warn' });
    expect(logger.level).toBe('warn');
    loadSettings(['simulator'], {});
    expect(logger.level).toBe('info');
  });
});

describe('each role parses its own settings only', () => {
  // Another role's setting, invalid for that role: shared environment files carry such.
  const others = { CHUNK_SIZE: 'many', VLLM_BASE_URL: 'ftp://not-a-backend', MAX_FILE_BYTES: '2GB', SIMULATOR_CAPACITY: '0' };

  test.each([
    ['api', { MAX_FILE_BYTES: undefined }],
    ['orchestrator', { CHUNK_SIZE: undefined }],
    ['inference', { VLLM_BASE_URL: undefined }],
    ['simulator', { SIMULATOR_CAPACITY: undefined }],
  ] as const)('%s: another role’s setting, even invalid, is not looked at; its own is', (role, own) => {
    expect(() => loadSettings([role], { ...others, ...own })).not.toThrow();
    expect(() => loadSettings([role], others)).toThrow(ConfigError);
  });

  test('a role’s parse holds its settings and no other', () => {
    const api = loadSettings(['api'], { ...others, MAX_FILE_BYTES: undefined });
    const apiNames = Object.keys(SETTINGS).filter((name) => (SETTINGS[name as keyof typeof SETTINGS].roles as readonly string[]).includes('api'));
    expect(Object.keys(api).filter((name) => !apiNames.includes(name))).toEqual([]);
    expect(api).toHaveProperty('PORT');
    expect(api).not.toHaveProperty('CHUNK_SIZE');
    const { orchestrator, inference } = loadServiceConfig(['orchestrator', 'inference'], {});
    expect(orchestrator).toHaveProperty('CHUNK_SIZE');
    expect(inference).not.toHaveProperty('CHUNK_SIZE');
  });

  test('a process of several roles reads all of theirs in one parse, one line naming every offending variable', () => {
    expect(() => loadServiceConfig(['orchestrator', 'inference'], others)).toThrow(/^invalid configuration: CHUNK_SIZE: [^;]*; VLLM_BASE_URL\.0\.url: [^;]*$/);
    const { api, orchestrator, inference } = loadServiceConfig(['orchestrator'], {});
    expect({ api, inference }).toEqual({ api: undefined, inference: undefined });
    expect(orchestrator).toMatchObject({ CHUNK_SIZE: 500 });
  });

  test('npm start plays every service role and its launcher: one parse reads them all', () => {
    const { service, start } = loadEmbeddedConfig({ CHUNK_SIZE: '7', VLLM_MODELS: 'm', MAX_FILE_BYTES: '9', DATA_DIR: '/tmp/x' });
    expect(service.orchestrator).toMatchObject({ CHUNK_SIZE: 7 });
    expect(service.inference).toMatchObject({ VLLM_MODELS: ['m'] });
    expect(service.api).toMatchObject({ MAX_FILE_BYTES: 9 });
    expect(start).toMatchObject({ DATA_DIR: '/tmp/x' });
    expect(start).not.toHaveProperty('CHUNK_SIZE');
    expect(service.given).toEqual({});
    expect(() => loadEmbeddedConfig({ CHUNK_SIZE: 'many' })).toThrow(/CHUNK_SIZE/);
  });

  test('WORKER_ROLES picks the worker roles, both when unset', () => {
    expect(loadSettings(['worker'], {}).WORKER_ROLES).toEqual(['orchestrator', 'inference']);
    expect(loadSettings(['worker'], { WORKER_ROLES: 'inference' }).WORKER_ROLES).toEqual(['inference']);
    expect(() => loadSettings(['worker'], { WORKER_ROLES: 'api' })).toThrow(/WORKER_ROLES/);
  });
});

describe('published settings', () => {
  test('are the three the API needed of the orchestrator: MAX_REQUESTS_PER_BATCH, DEFAULT_MODEL and QUEUE_*, each with one owner', () => {
    expect([...PUBLISHED_NAMES].sort()).toEqual(
      [
        'DEFAULT_MODEL',
        'MAX_REQUESTS_PER_BATCH',
        'QUEUE_COMPLETION_WINDOW',
        'QUEUE_MAX_BATCH_SIZE',
        'QUEUE_MODEL',
        'QUEUE_THRESHOLD',
        'QUEUE_TIME_INTERVAL_SECONDS',
        'QUEUE_TIME_THRESHOLD_SECONDS',
      ].sort(),
    );
    for (const name of PUBLISHED_NAMES) expect([name, SETTINGS[name].roles]).toEqual([name, ['orchestrator']]);
  });

  test('given to a process that does not own them, are parsed to be compared with the owner’s at start; blank is not given', () => {
    const { api, given } = loadServiceConfig(['api', 'inference'], { QUEUE_THRESHOLD: '500', DEFAULT_MODEL: 'm', QUEUE_MODEL: ' ', CHUNK_SIZE: '9' });
    expect(given).toEqual({ QUEUE_THRESHOLD: 500, DEFAULT_MODEL: 'm' });
    expect(api).not.toHaveProperty('QUEUE_THRESHOLD');
    expect(() => loadServiceConfig(['api'], { QUEUE_THRESHOLD: 'lots' })).toThrow(/^invalid configuration: QUEUE_THRESHOLD: /);
    expect(loadServiceConfig(['orchestrator'], { QUEUE_THRESHOLD: '500' }).given).toEqual({});
  });
});

describe('every setting', () => {
  const src = path.resolve(__dirname, '../../src');
  const sources = (fs.readdirSync(src, { recursive: true }) as string[]).filter((file) => file.endsWith('.ts'));

  test('is parsed by its declaration alone: no other module has a schema of it', () => {
    const declarations = new Set(['config/settings.ts', 'cluster/config.ts']);
    const parsers = ['envInt', 'envList', 'envBool', 'envLogLevel', 'optionalString', 'z\\.'].join('|');
    const others = sources.filter((file) => !declarations.has(file)).map((file) => [file, fs.readFileSync(path.join(src, file), 'utf8')] as const);
    const redeclared = Object.keys(SETTINGS).flatMap((name) =>
      others.filter(([, text]) => new RegExp(`\\b${name}\\s*:\\s*(${parsers})`).test(text)).map(([file]) => `${name} in ${file}`),
    );
    expect(redeclared).toEqual([]);
  });
});

describe('SIMULATOR_PORT', () => {
  test('is one setting with one default, for `npm run simulator` and the simulator `npm start` embeds alike', () => {
    expect(loadSettings(['simulator'], {}).SIMULATOR_PORT).toBe(8000);
    expect(loadEmbeddedConfig({}).start.SIMULATOR_PORT).toBe(8000);
    expect(loadEmbeddedConfig({ SIMULATOR_PORT: '9100' }).start.SIMULATOR_PORT).toBe(9100);
  });
});
