import { InvalidArgumentError } from 'commander';
import { completionWindowSeconds } from '../domain/window';

/** Parsers of option values: commander reports what they throw as a usage error (exit code 2), naming the option. */

export function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${text}'`);
  return n;
}

export function nonNegativeInt(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got '${text}'`);
  return n;
}

export function seconds(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number of seconds, got '${text}'`);
  return n;
}

/** `--window`: checked here, as the API would, so a bad one is refused before the file is uploaded. */
export function completionWindow(text: string): string {
  if (completionWindowSeconds(text) === undefined) throw new InvalidArgumentError(`expected 24h or a duration such as 90s, 30m, 12h, 7d (at most 30d), got '${text}'`);
  return text;
}

export function jsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`expected a JSON object, got '${text}'`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`expected a JSON object, got '${text}'`);
  return value as Record<string, unknown>;
}

/** `--metadata k=v`, repeatable, collected into one object. */
export function keyValue(pair: string, collected: Record<string, string>): Record<string, string> {
  const at = pair.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`expected key=value, got '${pair}'`);
  return { ...collected, [pair.slice(0, at)]: pair.slice(at + 1) };
}

/** `--codes a,b`: a comma-separated list of non-empty words. */
export function commaList(text: string): string[] {
  const items = text.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) throw new InvalidArgumentError(`expected a comma-separated list, got '${text}'`);
  return items;
}
