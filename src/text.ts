/**
 * Text PostgreSQL can store in a `text` column or a `jsonb` value: no U+0000 (its strings are
 * NUL-terminated) and no unpaired UTF-16 surrogate (which has no UTF-8 form and would come back
 * as U+FFFD, no longer matching what the client sent).
 */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}
