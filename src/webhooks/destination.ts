import dns from 'node:dns';
import net from 'node:net';

/** Why an address is not a public destination. */
export type AddressRange =
  | 'private'
  | 'loopback'
  | 'link_local'
  | 'unique_local'
  | 'shared' // carrier-grade NAT, 100.64.0.0/10
  | 'unspecified'
  | 'multicast'
  | 'reserved';

const RANGES: Array<[AddressRange, string, number, 'ipv4' | 'ipv6']> = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['shared', '100.64.0.0', 10, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['link_local', '169.254.0.0', 16, 'ipv4'], // includes the cloud metadata service, 169.254.169.254
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['reserved', '192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['reserved', '198.18.0.0', 15, 'ipv4'], // benchmarking networks, routed internally
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'], // includes broadcast 255.255.255.255
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  // Forms that embed an IPv4 address and can reach it: IPv4-compatible (::a.b.c.d), NAT64, 6to4.
  ['reserved', '::', 96, 'ipv6'],
  ['reserved', '::ffff:0:0:0', 96, 'ipv6'], // IPv4-translated (SIIT)
  ['reserved', '64:ff9b::', 96, 'ipv6'],
  ['reserved', '2002::', 16, 'ipv6'],
  ['link_local', 'fe80::', 10, 'ipv6'],
  ['unique_local', 'fc00::', 7, 'ipv6'],
  ['multicast', 'ff00::', 8, 'ipv6'],
];

// BlockList also matches IPv4-mapped IPv6 addresses (::ffff:127.0.0.1, ::ffff:7f00:1) against IPv4 subnets.
const BLOCKLISTS = new Map<AddressRange, net.BlockList>();
for (const [range, network, prefix, family] of RANGES) {
  if (!BLOCKLISTS.has(range)) BLOCKLISTS.set(range, new net.BlockList());
  BLOCKLISTS.get(range)!.addSubnet(network, prefix, family);
}

/** The non-public range an IP address is in, or null for a public address (or a string that is no IP). */
export function classifyAddress(address: string): AddressRange | null {
  const family = net.isIP(address);
  if (family === 0) return null;
  for (const [range, list] of BLOCKLISTS) {
    if (list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return range;
  }
  return null;
}

/**
 * Cloud instance-metadata endpoints hand out the host's credentials: refused even with
 * WEBHOOK_ALLOW_PRIVATE, which is meant for receivers on a private network, not for these.
 */
const METADATA_ADDRESSES = new net.BlockList();
for (const address of ['169.254.169.254', '169.254.170.2', '169.254.170.23', '100.100.100.200', '192.0.0.192']) METADATA_ADDRESSES.addAddress(address, 'ipv4');
for (const address of ['fd00:ec2::254', 'fd00:ec2::23']) METADATA_ADDRESSES.addAddress(address, 'ipv6');
const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

/** Whether `address` (an IP literal, IPv4-mapped forms included) is a cloud metadata service. */
export function isMetadataAddress(address: string): boolean {
  const family = net.isIP(address);
  return family !== 0 && METADATA_ADDRESSES.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const metadataRefusal = (host: string) => `${host} is a cloud metadata endpoint, never a webhook destination`;

export type DestinationPolicy = { allowPrivate: boolean };

/** A destination this server will not send to; never worth retrying. */
export class DestinationRefusedError extends Error {
  override readonly name = 'DestinationRefusedError';
}

/** `[::1]` → `::1`, `localhost.` → `localhost`: the host as resolvers and IP parsers see it. */
function bareHost(url: URL): string {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return host.toLowerCase().replace(/\.$/, '');
}

/**
 * What can be decided without DNS: the scheme, IP literals (the URL parser has already normalised
 * forms like `0x7f.1` or `2130706433` to dotted quads) and localhost names. Returns the reason the
 * destination is refused, or null. Hostnames still need `resolvedRefusal` or `guardedLookup`.
 */
export function destinationRefusal(rawUrl: string, policy: DestinationPolicy): string | null {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return 'not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme ${url.protocol} is not allowed, only http and https`;
  // The URL is shown in the Batch object and in logs: a password in it would leak to every reader.
  if (url.username || url.password) return 'must not contain credentials (user:password@); authenticate with the signing secret';
  const host = bareHost(url);
  if (METADATA_NAMES.has(host) || isMetadataAddress(host)) return metadataRefusal(host);
  if (policy.allowPrivate) return null;
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is a loopback name`;
  const range = classifyAddress(host);
  return range ? refusalMessage(host, range) : null;
}

const refusalMessage = (address: string, range: AddressRange) => `${address} is a ${range.replace('_', '-')} address; set WEBHOOK_ALLOW_PRIVATE=true to allow it`;

/** Every address `hostname` resolves to: a rebinding resolver may mix public and private answers. */
function checkAddresses(hostname: string, addresses: dns.LookupAddress[], policy: DestinationPolicy): DestinationRefusedError | null {
  for (const { address } of addresses) {
    if (isMetadataAddress(address)) return new DestinationRefusedError(`${hostname} resolves to ${metadataRefusal(address)}`);
    if (policy.allowPrivate) continue;
    const range = classifyAddress(address);
    if (range) return new DestinationRefusedError(`${hostname} resolves to ${refusalMessage(address, range)}`);
  }
  return null;
}

export type Lookup = net.LookupFunction;

/**
 * `destinationRefusal` plus DNS: a hostname is refused when any of its addresses is non-public.
 * A name that does not resolve (yet) is not refused here; the send-time guard checks it again.
 */
export async function resolvedRefusal(rawUrl: string, policy: DestinationPolicy, lookup: Lookup = dns.lookup): Promise<string | null> {
  const refusal = destinationRefusal(rawUrl, policy);
  if (refusal) return refusal;
  const host = bareHost(new URL(rawUrl));
  if (net.isIP(host)) return null;
  const addresses = await new Promise<dns.LookupAddress[]>((resolve) =>
    lookup(host, { all: true }, (err, result) => resolve(err ? [] : (result as dns.LookupAddress[]))),
  );
  return checkAddresses(host, addresses, policy)?.message ?? null;
}

/**
 * A `lookup` for node:net/http that refuses what `policy` does not allow (metadata endpoints always):
 * the check runs on the very addresses the socket will connect to, so a DNS answer that changes
 * after the create-time check (DNS rebinding) is caught. Node skips `lookup` for IP literals, which
 * `destinationRefusal` covers.
 */
export function guardedLookup(policy: DestinationPolicy, resolve: Lookup = dns.lookup): Lookup {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, result) => {
      if (err) return callback(err, '');
      const addresses = result as dns.LookupAddress[];
      const refused = checkAddresses(hostname, addresses, policy);
      if (refused) return callback(refused, '');
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), '');
      return callback(null, first.address, first.family);
    });
  };
}
