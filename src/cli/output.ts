import type { Batch } from 'openai/resources/batches';

/**
 * What `vbs` exits with, so scripts can branch on a batch's outcome without parsing output. Listed
 * in `vbs --help` and the README from this one table.
 */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  failed: 3,
  expired: 4,
  cancelled: 5,
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    ok; for submit --wait, watch and status: the batch completed (or is still running, for status)
  1    error: the API refused the call, or the server could not be reached
  2    usage error: unknown command or option, missing or malformed argument
  3    the batch failed
  4    the batch expired
  5    the batch was cancelled
  130  Ctrl-C, then "stop watching": the batch keeps running`;

/** A mistake in the command line: reported on one line and exit code 2, like commander's own. */
export class UsageError extends Error {}

/** The exit code a batch's status stands for: its outcome once ended, `ok` while it runs. */
export function exitCodeOf(status: Batch['status']): number {
  if (status === 'failed') return EXIT.failed;
  if (status === 'expired') return EXIT.expired;
  if (status === 'cancelled') return EXIT.cancelled;
  return EXIT.ok;
}

/** Machine output: the API's object as it came, alone on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns padded to their widest cell, for people reading a list. */
export function printTable(header: string[], rows: string[][]): void {
  const table = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...table.map((row) => (row[col] ?? '').length)));
  for (const row of table)
    console.log(
      row
        .map((cell, col) => cell.padEnd(widths[col]!))
        .join('  ')
        .trimEnd(),
    );
}

/** One object for people: its name, then its fields as aligned `key  value` lines. */
export function printFields(title: string, fields: [string, string][]): void {
  console.log(title);
  const width = Math.max(...fields.map(([key]) => key.length));
  for (const [key, value] of fields) console.log(`  ${key.padEnd(width)}  ${value}`);
}

/** Unix seconds as an ISO time; '' for a time not reached. */
export const isoTime = (seconds: number | null | undefined): string => (seconds ? new Date(seconds * 1000).toISOString() : '');

/** `done/total done, n failed`: the counts as the bar and the progress lines show them. */
export const countsText = (counts: Batch['request_counts']): string =>
  `${(counts?.completed ?? 0) + (counts?.failed ?? 0)}/${counts?.total ?? 0} done, ${counts?.failed ?? 0} failed`;
