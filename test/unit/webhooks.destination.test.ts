import type dns from 'node:dns';
import { classifyAddress, DestinationRefusedError, destinationRefusal, guardedLookup, resolvedRefusal, type Lookup } from '../../src/webhooks/destination';

/** A resolver answering from a table, as a rebinding DNS server could. */
function fakeResolver(table: Record<string, string[]>): Lookup {
  return (hostname, _options, callback) => {
    const addresses = table[hostname];
    if (!addresses) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };
}

describe('address classification', () => {
  test.each([
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.10', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.169.254', 'link_local'],
    ['169.254.0.1', 'link_local'],
    ['fe80::1', 'link_local'],
    ['febf::1', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:a9fe:a9fe', 'link_local'],
    ['192.0.0.170', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.254', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['64:ff9b::a9fe:a9fe', 'reserved'],
    ['2002:7f00:1::1', 'reserved'],
    ['::ffff:0:7f00:1', 'reserved'], // IPv4-translated 127.0.0.1
    ['::ffff:0:a9fe:a9fe', 'reserved'],
  ])('%s is %s', (address, range) => {
    expect(classifyAddress(address)).toBe(range);
  });

  test.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '192.169.0.1',
    '198.20.0.1',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
  ])('%s is public', (address) => {
    expect(classifyAddress(address)).toBeNull();
  });
});

describe('destination URLs without DNS', () => {
  const strict = { allowPrivate: false };
  test.each([
    'http://10.0.0.1/hook',
    'https://169.254.169.1/',
    'http://[::1]:8080/',
    'http://[fe80::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://0x7f.1/',
    'http://2130706433/',
    'http://017700000001/',
    'http://localhost:3000/',
    'http://LOCALHOST./',
    'http://api.localhost/',
    'http://0.0.0.0:80/',
    'http://100.100.100.1/',
  ])('%s is refused', (url) => {
    expect(destinationRefusal(url, strict)).toEqual(expect.any(String));
    expect(destinationRefusal(url, { allowPrivate: true })).toBeNull();
  });

  test.each(['ftp://example.com/', 'file:///etc/passwd', 'gopher://example.com/', 'not a url', 'https://user:pass@hooks.example.com/', 'https://token@8.8.8.8/'])(
    '%s is refused even when private destinations are allowed',
    (url) => {
      expect(destinationRefusal(url, { allowPrivate: true })).toEqual(expect.any(String));
    },
  );

  test.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:169.254.169.254]/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://169.254.170.2/v2/credentials',
    'http://100.100.100.200/latest/meta-data/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://METADATA./',
  ])('%s, a cloud metadata endpoint, is refused even when private destinations are allowed', (url) => {
    expect(destinationRefusal(url, { allowPrivate: true })).toMatch(/cloud metadata endpoint/);
    expect(destinationRefusal(url, strict)).toMatch(/cloud metadata endpoint/);
  });

  test('public literals and hostnames pass (hostnames are checked again after resolution)', () => {
    expect(destinationRefusal('https://8.8.8.8/hook', strict)).toBeNull();
    expect(destinationRefusal('https://hooks.example.com/batch', strict)).toBeNull();
    expect(destinationRefusal('http://[2001:4860:4860::8888]/', strict)).toBeNull();
  });
});

describe('destinations after DNS', () => {
  const resolver = fakeResolver({
    'public.example': ['93.184.216.34'],
    'internal.example': ['10.1.2.3'],
    'mixed.example': ['93.184.216.34', '127.0.0.1'],
    'metadata.example': ['169.254.169.254'],
  });

  test('create time: a hostname resolving to any non-public address is refused', async () => {
    const strict = { allowPrivate: false };
    expect(await resolvedRefusal('https://public.example/h', strict, resolver)).toBeNull();
    expect(await resolvedRefusal('https://internal.example/h', strict, resolver)).toMatch(/internal\.example resolves to 10\.1\.2\.3 is a private/);
    expect(await resolvedRefusal('https://mixed.example/h', strict, resolver)).toMatch(/127\.0\.0\.1 is a loopback/);
    expect(await resolvedRefusal('https://metadata.example/h', strict, resolver)).toMatch(/169\.254\.169\.254 is a cloud metadata endpoint/);
    expect(await resolvedRefusal('https://metadata.example/h', { allowPrivate: true }, resolver)).toMatch(/cloud metadata endpoint/);
    // Not resolvable now: left to the send-time guard.
    expect(await resolvedRefusal('https://unknown.example/h', strict, resolver)).toBeNull();
    expect(await resolvedRefusal('https://internal.example/h', { allowPrivate: true }, resolver)).toBeNull();
    expect(await resolvedRefusal('http://localhost/h', strict, resolver)).toMatch(/loopback name/);
  });

  function lookupWith(lookup: Lookup, hostname: string, options: dns.LookupOptions) {
    return new Promise<{ err: Error | null; address: unknown; family?: number }>((resolve) =>
      lookup(hostname, options, (err, address, family) => resolve({ err, address, family })),
    );
  }

  test('send time: the guard refuses non-public answers, in both lookup call styles node uses', async () => {
    const guard = guardedLookup({ allowPrivate: false }, resolver);
    const single = await lookupWith(guard, 'public.example', {});
    expect(single).toEqual({ err: null, address: '93.184.216.34', family: 4 });
    const all = await lookupWith(guard, 'public.example', { all: true });
    expect(all).toEqual({ err: null, address: [{ address: '93.184.216.34', family: 4 }], family: undefined });

    for (const options of [{}, { all: true }]) {
      const refused = await lookupWith(guard, 'mixed.example', options);
      expect(refused.err).toBeInstanceOf(DestinationRefusedError);
      expect(refused.err!.message).toMatch(/mixed\.example resolves to 127\.0\.0\.1/);
    }
    const unknown = await lookupWith(guard, 'unknown.example', {});
    expect(unknown.err).not.toBeInstanceOf(DestinationRefusedError);
    expect((unknown.err as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
  });

  test('send time with private destinations allowed: private answers pass, metadata answers never do', async () => {
    const guard = guardedLookup({ allowPrivate: true }, resolver);
    expect(await lookupWith(guard, 'internal.example', {})).toEqual({ err: null, address: '10.1.2.3', family: 4 });
    const refused = await lookupWith(guard, 'metadata.example', {});
    expect(refused.err).toBeInstanceOf(DestinationRefusedError);
    expect(refused.err!.message).toMatch(/metadata\.example resolves to 169\.254\.169\.254 is a cloud metadata endpoint/);
  });
});
