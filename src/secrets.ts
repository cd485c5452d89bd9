import crypto from 'node:crypto';

/**
 * Nothing secret the service is given leaves the process (issue 32). Two halves: what is shown of a
 * configured URL is its redacted label (`backendLabel`, `redactUrl`), built where the URL is parsed,
 * so logs, metrics labels and /readyz cannot show more; and, as the last line, every secret of the
 * configuration is registered here and scrubbed from every log line (`scrubSecrets`, the logger's
 * stream hook), whatever library message or field carried it. A leaf: it imports nothing of ours.
 */

/** Shorter secrets are not scrubbed: replacing a two-letter password everywhere would garble every line, not protect it. */
const MIN_SCRUBBED_LENGTH = 4;

const REDACTED = '[redacted]';

let secretForms: string[] = [];
let secretPattern: RegExp | undefined;

/**
 * A URL as it may be shown: scheme://host:port/path, without user, password, query or fragment
 * (where tokens go). Text that is not a URL shows as its scheme-less host part, credentials cut.
 */
export function backendLabel(url: string | URL): string {
  const parsed = typeof url === 'string' ? parseUrl(url) : url;
  if (!parsed) return redactUrl(String(url));
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** Any text that may be a URL, with its credentials (`user:password@`) replaced: for messages that echo an address. */
export function redactUrl(text: string): string {
  return text.replace(/(^|\/\/)[^/@\s]*@/, `$1${REDACTED}@`);
}

/**
 * The credentials a URL (or a scheme-less `user:password@host:port` address) carries: its password,
 * or its user when it has none (a token given as the user, as many proxies take it).
 */
export function credentialsIn(address: string): string[] {
  const parsed = parseUrl(address.includes('://') ? address : `scheme://${address}`);
  if (!parsed) return [];
  const user = safeDecode(parsed.username);
  const password = safeDecode(parsed.password);
  return password ? [password] : user ? [user] : [];
}

/**
 * Registers secrets to scrub from every log line: each as given, percent-encoded (as in a URL) and
 * JSON-escaped (as inside a log line's strings). Called with the configuration's secrets once parsed.
 */
export function registerSecrets(secrets: Iterable<string | undefined>): void {
  const forms = new Set(secretForms);
  for (const secret of secrets) {
    if (secret === undefined || secret.length < MIN_SCRUBBED_LENGTH) continue;
    for (const form of [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]) forms.add(form);
  }
  // Longest first, so a secret containing another is replaced whole.
  secretForms = [...forms].sort((a, b) => b.length - a.length);
  secretPattern = secretForms.length > 0 ? new RegExp(secretForms.map(escapeRegExp).join('|'), 'g') : undefined;
}

/** `text` with every registered secret replaced by `[redacted]`. */
export function scrubSecrets(text: string): string {
  return secretPattern ? text.replace(secretPattern, REDACTED) : text;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The token of an `Authorization: Bearer <token>` header, if it is one. */
export const bearerToken = (authorization: string | undefined): string | undefined => /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];

/** Whether the request's Authorization header carries `token`, compared by digest so the time taken tells nothing of how much matched. */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  const sent = bearerToken(authorization);
  if (sent === undefined) return false;
  const digest = (text: string) => crypto.createHash('sha256').update(text).digest();
  return crypto.timingSafeEqual(digest(sent), digest(token));
}
