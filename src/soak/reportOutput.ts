/**
 * The three forms of a soak's report: the JSON as it is, a markdown summary (for the README and a
 * closing note; readable in a terminal too) and a PNG of throughput over time with the faults on it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { FAULT_KINDS, type FaultKind, type SoakReport } from './report';

const VIOLATIONS_LISTED = 10;
const FAILURE_KINDS_LISTED = 3;

const int = (n: number) => n.toLocaleString('en-US');
/** Ratios over zero calls or zero faults come out NaN or infinite: shown as n/a rather than as a figure. */
const fixed = (n: number, digits: number, unit = '') => (Number.isFinite(n) ? `${n.toFixed(digits)}${unit}` : 'n/a');
const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });
const cell = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

/**
 * A markdown table with its columns padded to one width, so that it reads as a table in a terminal
 * too; all but the last, so that one long value does not make every row wrap.
 */
function table(header: string[], rows: string[][]): string {
  const cells = [header, ...rows].map((row) => row.map(cell));
  const widths = header.map((_, i) => (i === header.length - 1 ? 0 : Math.max(...cells.map((row) => row[i]?.length ?? 0))));
  const line = (row: string[]) => `| ${widths.map((width, i) => (row[i] ?? '').padEnd(width)).join(' | ')} |`;
  const [head, ...body] = cells.map(line);
  return [head, `|${widths.map((width) => '-'.repeat(Math.max(3, width) + 2)).join('|')}|`, ...body].join('\n');
}

function availabilityCell({ calls, ok, excluded, ratio, failuresByKind }: SoakReport['availability']): string {
  const failures = Object.entries(failuresByKind).sort(([a, m], [b, n]) => n - m || byName(a, b));
  const listed = failures.slice(0, FAILURE_KINDS_LISTED).map(([kind, count]) => `${kind} (${int(count)})`);
  if (failures.length > FAILURE_KINDS_LISTED) listed.push(`${failures.length - FAILURE_KINDS_LISTED} more`);
  const figures = `${fixed(ratio * 100, 3, '%')} (${int(ok)} ok of ${int(calls)} calls, ${int(excluded)} excluded)`;
  return listed.length > 0 ? `${figures}; failures: ${listed.join(', ')}` : figures;
}

/** The report as one header line, a table of its figures and the first violations. */
export function markdownReport(report: SoakReport): string {
  const { requests, batches, queuedRequests, faults, invariants: inv, redo, violations } = report;
  const verdict = report.passed ? 'PASSED' : 'FAILED';
  const statuses = Object.entries(batches.byStatus).sort(([a], [b]) => byName(a, b));
  const rss = Object.entries(report.peakRssMiB).sort(([a], [b]) => byName(a, b));
  const rows: string[][] = [
    [
      'requests',
      `${int(requests.total)} total: ${int(requests.succeeded)} succeeded, ${int(requests.failedAsAsked)} failed as asked, ` +
        `${int(requests.expiredOrCancelled)} expired/cancelled`,
    ],
    ['batches', `${int(batches.total)} total: ${statuses.map(([status, n]) => `${status} ${int(n)}`).join(', ') || 'none'}`],
    ['queued requests', `${int(queuedRequests.total)} total, ${int(queuedRequests.ambiguous)} ambiguous`],
    ['faults injected', `${int(faults.total)} total: ${FAULT_KINDS.map((kind) => `${kind} ${int(faults.byKind[kind])}`).join(', ')}`],
    ['lost', int(inv.lost)],
    ['doubled', int(inv.doubled)],
    ['wrongly failed', int(inv.wronglyFailed)],
    ['non-final', int(inv.nonFinal)],
    ['wrong status', int(inv.wrongStatus)],
    ['webhooks missing', `${int(inv.webhooksMissing)} (${int(inv.webhookDuplicates)} delivered more than once, allowed)`],
    ['idempotency mismatches', `${int(inv.idempotencyMismatches)} of ${int(batches.idempotentReplays)} replays`],
    ['queued lost / doubled', `${int(inv.queuedLost)} / ${int(inv.queuedDoubled)}`],
    ['availability', availabilityCell(report.availability)],
    ['redo per fault', `${fixed(redo.perFault, 2)} (${int(redo.surplus)} surplus / ${int(redo.faultsLosingWork)} faults losing work; bound ${int(redo.boundPerFault)})`],
    ['peak RSS (MiB)', rss.map(([name, mib]) => `${name} ${int(Math.round(mib))}`).join(', ') || 'none'],
  ];
  const parts = [`**Soak: seed ${report.seed}, ${report.minutes} minutes, ${verdict}**`, table(['measure', 'value'], rows)];
  if (violations.length > 0) {
    const shown = violations.slice(0, VIOLATIONS_LISTED);
    const count = violations.length > shown.length ? `the first ${shown.length} of ${int(violations.length)}` : int(violations.length);
    parts.push(
      `Violations (${count}):`,
      table(
        ['invariant', 'record', 'detail'],
        shown.map(({ invariant, record, detail }) => [invariant, record, detail]),
      ),
    );
  }
  return parts.join('\n\n') + '\n';
}

/** A colour per kind, fixed, so that a kind looks the same in every run's plot (Tableau 10). */
const FAULT_COLOURS: Record<FaultKind, string> = {
  kill: '#e15759',
  pause: '#f28e2b',
  'postgres-restart': '#4e79a7',
  'temporal-restart': '#76b7b2',
  'backend-down': '#59a14f',
  'backend-flap': '#edc948',
  'backend-latency': '#b07aa1',
  'backend-reset': '#ff9da7',
  'backend-blackhole': '#9c755f',
};

const WIDTH = 1200;
const HEIGHT = 500;
/** An instantaneous fault (a kill) is drawn this share of the time axis wide, so that it shows. */
const MIN_FAULT_WIDTH = 0.004;

const minutesOf = (ms: number) => ms / 60_000;

type Layer = Extract<vl.TopLevelSpec, { layer: unknown }>['layer'][number];

function plotSpec(report: SoakReport): vl.TopLevelSpec {
  const samples = report.throughput.map(({ tMs, linesPerSecond }) => ({ minutes: minutesOf(tMs), linesPerSecond }));
  // A reduce, not Math.max(...): a day's samples would be more arguments than a call takes.
  const ends = [...samples.map((s) => s.minutes), ...report.faults.list.map((f) => minutesOf(f.endMs))];
  const span = ends.reduce((a, b) => Math.max(a, b), report.minutes) || 1;
  const faults = report.faults.list.map(({ kind, startMs, endMs }) => ({
    kind,
    start: minutesOf(startMs),
    end: Math.max(minutesOf(endMs), minutesOf(startMs) + span * MIN_FAULT_WIDTH),
  }));
  // Only the kinds that happened are in the legend, in FAULT_KINDS' order.
  const kinds = FAULT_KINDS.filter((kind) => faults.some((f) => f.kind === kind));
  const x = { type: 'quantitative' as const, scale: { domain: [0, span], nice: false }, title: 'minutes since start' };
  const line: Layer = {
    data: { values: samples },
    mark: { type: 'line', color: '#222222', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'minutes', ...x },
      y: { field: 'linesPerSecond', type: 'quantitative', title: 'answers/s' },
    },
  };
  const rects: Layer = {
    data: { values: faults },
    mark: { type: 'rect', opacity: 0.35 },
    encoding: {
      x: { field: 'start', ...x },
      x2: { field: 'end' },
      color: {
        field: 'kind',
        type: 'nominal',
        scale: { domain: kinds, range: kinds.map((kind) => FAULT_COLOURS[kind]) },
        legend: { title: 'fault', symbolType: 'square', symbolOpacity: 0.6 },
      },
    },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: WIDTH,
    height: HEIGHT,
    autosize: { type: 'fit', contains: 'padding' },
    padding: 12,
    title: {
      text: `Soak: seed ${report.seed}, ${report.minutes} minutes, ${report.passed ? 'PASSED' : 'FAILED'}`,
      subtitle: samples.length > 0 ? `successful backend answers per second; ${report.faults.total} injected faults shaded` : 'no throughput samples',
      color: report.passed ? '#1a7f37' : '#cf222e',
      anchor: 'start',
    },
    // Without faults there is no colour domain to draw a legend of: the line alone.
    layer: faults.length > 0 ? [rects, line] : [line],
    // A list, as CSS has it: resvg takes the first family the system has (its own sans-serif may be missing).
    config: { font: 'DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif', view: { stroke: '#dddddd' }, axis: { gridColor: '#eeeeee' } },
  };
}

/** Throughput over time as a PNG about 1200×500, each injected fault a translucent band coloured by kind. */
export async function writePlot(report: SoakReport, pngPath: string): Promise<void> {
  const view = new vega.View(vega.parse(vl.compile(plotSpec(report)).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'width', value: WIDTH } }).render().asPng();
    await fs.writeFile(pngPath, png);
  } finally {
    view.finalize();
  }
}

/** Writes the forms asked for: the JSON (pretty), the markdown summary and the plot. */
export async function writeReportFiles(report: SoakReport, files: { json?: string; markdown?: string; png?: string }): Promise<void> {
  const written = Object.values(files).filter((file): file is string => file !== undefined);
  await Promise.all([...new Set(written.map((file) => path.dirname(file)))].map((dir) => fs.mkdir(dir, { recursive: true })));
  await Promise.all([
    files.json && fs.writeFile(files.json, JSON.stringify(report, null, 2) + '\n'),
    files.markdown && fs.writeFile(files.markdown, markdownReport(report)),
    files.png && writePlot(report, files.png),
  ]);
}
