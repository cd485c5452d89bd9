import { loadConfig } from '../../src/config';
import { logger } from '../../src/logger';

describe('limits', () => {
  test("default to OpenAI's: 200 MB per file, 50,000 requests per batch", () => {
    expect(loadConfig({}).limits).toEqual({ maxFileBytes: 200 * 1024 * 1024, maxRequestsPerBatch: 50_000, maxConcurrentUploadsPerTenant: 8 });
  });

  test('go to at least 2 GB and 1,000,000 requests', () => {
    const { limits } = loadConfig({ MAX_FILE_BYTES: String(2 * 1024 ** 3), MAX_REQUESTS_PER_BATCH: '1000000' });
    expect(limits).toMatchObject({ maxFileBytes: 2 * 1024 ** 3, maxRequestsPerBatch: 1_000_000 });
  });

  test('reject nonsense with one line naming the variable', () => {
    expect(() => loadConfig({ MAX_FILE_BYTES: '2GB' })).toThrow(/MAX_FILE_BYTES/);
    expect(() => loadConfig({ MAX_REQUESTS_PER_BATCH: '0' })).toThrow(/MAX_REQUESTS_PER_BATCH/);
  });
});

describe('slow clients and pools', () => {
  test('have defaults that keep a trickling client from holding anything for long', () => {
    const config = loadConfig({});
    expect(config.http).toEqual({ headersTimeoutMs: 20_000, idleTimeoutMs: 60_000, requestTimeoutMs: 3_600_000 });
    expect(config.dbPoolSize).toEqual({ api: 10, worker: 10 });
    expect(config.dbTimeouts).toEqual({ connectMs: 10_000, statementMs: 60_000 });
    expect(loadConfig({ DB_CONNECT_TIMEOUT_MS: '2500', DB_STATEMENT_TIMEOUT_MS: '300000' }).dbTimeouts).toEqual({ connectMs: 2_500, statementMs: 300_000 });
  });

  test('refuse a pool too small to serve a request and its health probe', () => {
    expect(() => loadConfig({ API_DB_POOL_SIZE: '1' })).toThrow(/API_DB_POOL_SIZE/);
    expect(() => loadConfig({ HTTP_IDLE_TIMEOUT_MS: '10' })).toThrow(/HTTP_IDLE_TIMEOUT_MS/);
  });
});

describe('API_KEYS and OPERATOR_API_KEYS', () => {
  test('map `key` and `key:tenant` entries to tenants, with their scope', () => {
    expect([...loadConfig({ API_KEYS: 'k1:acme, k2 ,k3:globex', OPERATOR_API_KEYS: 'op1,op2:ops' }).apiKeys]).toEqual([
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
    expect(loadConfig({}).metrics).toEqual({ port: undefined, bearerToken: undefined });
    expect(loadConfig({ METRICS_PORT: '0', METRICS_BEARER_TOKEN: 'scrape-token' }).metrics).toEqual({ port: 0, bearerToken: 'scrape-token' });
  });
});

describe('LOG_LEVEL', () => {
  test('is applied to the logger by the one config parse', () => {
    loadConfig({ LOG_LEVEL: 'warn' });
    expect(logger.level).toBe('warn');
    loadConfig({});
    expect(logger.level).toBe('info');
  });
});
