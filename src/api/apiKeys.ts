import crypto from 'node:crypto';

/** Keys are compared and stored by SHA-256: a database leak does not leak usable keys. */
export const hashApiKey = (key: string) => crypto.createHash('sha256').update(key).digest('hex');

/** A new secret key (256 random bits), its ID, and the prefix shown when listing keys. */
export function generateApiKey(): { id: string; key: string; prefix: string } {
  const key = `sk-vbs-${crypto.randomBytes(32).toString('base64url')}`;
  return { id: `key_${crypto.randomBytes(8).toString('hex')}`, key, prefix: key.slice(0, 11) };
}
