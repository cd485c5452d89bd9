import { loadServiceConfig, loadSettings } from '../../src/config';
import { backendTarget } from '../../src/inference/target';
import { backendLabel, credentialsIn, redactUrl, scrubSecrets } from '../../src/secrets';

describe('backend targets', () => {
  test('move the credentials of a base URL into a Basic header, which takes precedence over VLLM_API_KEY, and show a label without them', () => {
    expect(backendTarget('http://user:p%40ss@gpu-1:8000/v1/', 'sk-vllm')).toEqual({
      baseUrl: 'http://gpu-1:8000/v1',
      label: 'http://gpu-1:8000/v1',
      authorization: `Basic ${Buffer.from('user:p@ss').toString('base64')}`,
    });
    expect(backendTarget('https://gpu-2/v1', 'sk-vllm')).toEqual({ baseUrl: 'https://gpu-2/v1', label: 'https://gpu-2/v1', authorization: 'Bearer sk-vllm' });
    expect(backendTarget('http://gpu-3:8000/v1', undefined).authorization).toBeUndefined();
  });

  test('take a configured name as their label: VLLM_BASE_URL entries `[name=]url`', () => {
    const { VLLM_BASE_URL } = loadSettings(['inference'], { VLLM_BASE_URL: 'gpu-1=http://user:pw@gpu-1:8000/v1,http://gpu-2:8000/v1?a=b' });
    expect(VLLM_BASE_URL.map(({ url, name }) => backendTarget(url, undefined, name)).map((b) => [b.label, b.baseUrl])).toEqual([
      ['gpu-1', 'http://gpu-1:8000/v1'],
      ['http://gpu-2:8000/v1', 'http://gpu-2:8000/v1?a=b'],
    ]);
    expect(() => loadSettings(['inference'], { VLLM_BASE_URL: 'gpu 1=http://gpu-1:8000/v1' })).toThrow(/^invalid configuration: VLLM_BASE_URL\.0\.url: Invalid URL$/);
  });

  test('are labelled scheme://host:port/path, without user, password, query or fragment', () => {
    expect(backendLabel('http://token@proxy:9000/vllm/v1?key=abc#x')).toBe('http://proxy:9000/vllm/v1');
    expect(redactUrl('http://user:pw@api:4080/v1')).toBe('http://[redacted]@api:4080/v1');
    expect(redactUrl('http://api:4080/v1')).toBe('http://api:4080/v1');
  });

  test('credentials are the password, else a token given as the user; scheme-less addresses too', () => {
    expect(credentialsIn('postgres://vbs:s%3Acret@db:5432/vbs')).toEqual(['s:cret']);
    expect(credentialsIn('https://tok3n@proxy/v1')).toEqual(['tok3n']);
    expect(credentialsIn('user:hunter22@temporal:7233')).toEqual(['hunter22']);
    expect(credentialsIn('temporal:7233')).toEqual([]);
  });
});

describe('the configuration registers its secrets, which no log line can then carry', () => {
  test('in every form a line may hold them: as given, percent-encoded, JSON-escaped', () => {
    loadServiceConfig(['api', 'orchestrator', 'inference'], {
      VLLM_BASE_URL: 'http://user:backend%2Fpw@gpu:8000/v1',
      DATABASE_URL: 'postgres://vbs:dbpassword1@db/vbs',
      VLLM_API_KEY: 'vllm-key-1',
      API_KEYS: 'tenant-key-1:acme',
      OPERATOR_API_KEYS: 'operator-key-1',
      WEBHOOK_SECRET: 'webhook "secret"',
      METRICS_BEARER_TOKEN: 'scrape-token-1',
    });
    const line = JSON.stringify({
      msg: 'x',
      urls: ['http://user:backend%2Fpw@gpu:8000/v1', 'backend/pw', 'postgres://vbs:dbpassword1@db/vbs'],
      keys: ['vllm-key-1', 'tenant-key-1', 'operator-key-1', 'scrape-token-1'],
      webhook: 'webhook "secret"',
      basic: Buffer.from('user:backend/pw').toString('base64'),
    });
    const scrubbed = scrubSecrets(line);
    for (const secret of ['backend%2Fpw', 'backend/pw', 'dbpassword1', 'vllm-key-1', 'tenant-key-1', 'operator-key-1', 'scrape-token-1', 'webhook \\"secret\\"']) {
      expect(scrubbed).not.toContain(secret);
    }
    expect(scrubbed).toContain('http://user:[redacted]@gpu:8000/v1');
    expect(scrubbed).not.toContain(Buffer.from('user:backend/pw').toString('base64'));
  });

  test('also those of settings another role reads: they are in the environment all the same', () => {
    loadSettings(['api'], { VLLM_BASE_URL: 'http://user:other-role-password@gpu:8000/v1', WEBHOOK_SECRET: 'other-role-secret' });
    expect(scrubSecrets('other-role-password other-role-secret')).toBe('[redacted] [redacted]');
  });

  test('an invalid secret-bearing setting is named, never echoed', () => {
    const attempt = () =>
      loadServiceConfig(['api', 'orchestrator', 'inference'], {
        VLLM_BASE_URL: 'ftp://user:echoed-password@gpu/v1',
        WEBHOOK_SECRET: 'whsec_echoed-secret!',
        METRICS_PORT: 'echoed-port',
        OPERATOR_API_KEYS: 'fine-key',
      });
    expect(attempt).toThrow(/^invalid configuration: METRICS_PORT: .*; WEBHOOK_SECRET: .*; VLLM_BASE_URL\.0\.url: Invalid URL$/);
    expect(attempt).not.toThrow(/echoed/);
  });
});
