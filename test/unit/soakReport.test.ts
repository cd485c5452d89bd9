import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FAULT_KINDS, type FaultKind, type InjectedFault, type SoakReport } from '../../src/soak/report';
import { markdownReport, writePlot, writeReportFiles } from '../../src/soak/reportOutput';

const MINUTE = 60_000;

const faultList: InjectedFault[] = [
  { kind: 'kill', target: 'gpu-worker-1', startMs: 5 * MINUTE, endMs: 5 * MINUTE },
  { kind: 'kill', target: 'api-2', startMs: 31 * MINUTE, endMs: 31 * MINUTE },
  { kind: 'pause', target: 'gpu-worker-2', startMs: 12 * MINUTE, endMs: 12.5 * MINUTE },
  { kind: 'postgres-restart', target: 'postgres', startMs: 20 * MINUTE, endMs: 20.4 * MINUTE },
  { kind: 'backend-latency', target: 'simulator-1', startMs: 40 * MINUTE, endMs: 44 * MINUTE },
  { kind: 'backend-down', target: 'simulator-2', startMs: 50 * MINUTE, endMs: 51.5 * MINUTE },
];

const byKind = (list: InjectedFault[]) => Object.fromEntries(FAULT_KINDS.map((kind) => [kind, list.filter((f) => f.kind === kind).length])) as Record<FaultKind, number>;

/** A one-hour soak as `npm run soak` reports it, with one lost line. */
function fixture(): SoakReport {
  return {
    seed: 424242,
    minutes: 60,
    startedAt: '2025-01-01T10:00:00.000Z',
    finishedAt: '2025-01-01T11:00:00.000Z',
    passed: false,
    machine: { cores: 2, loadAverageAtStart: 0.4 },
    requests: { total: 120_000, succeeded: 118_200, failedAsAsked: 1_200, expiredOrCancelled: 599 },
    batches: { total: 240, byStatus: { completed: 236, expired: 2, cancelled: 2 }, idempotentReplays: 48 },
    queuedRequests: { total: 3_000, ambiguous: 4 },
    faults: { total: faultList.length, byKind: byKind(faultList), list: faultList },
    invariants: {
      lost: 1,
      doubled: 0,
      wronglyFailed: 0,
      nonFinal: 0,
      wrongStatus: 0,
      webhooksMissing: 0,
      webhookDuplicates: 7,
      idempotencyMismatches: 0,
      queuedLost: 0,
      queuedDoubled: 0,
    },
    availability: {
      calls: 50_000,
      ok: 49_991,
      excluded: 120,
      ratio: 49_991 / 50_000,
      failuresByKind: { '503 temporal_unavailable': 5, '502': 2, ECONNREFUSED: 1, ECONNRESET: 1 },
    },
    redo: { backendSuccesses: 118_290, linesSucceeded: 118_200, surplus: 90, faultsLosingWork: 5, perFault: 18, boundPerFault: 64 },
    peakRssMiB: { 'gpu-worker-10': 140.2, 'api-1': 182.6, 'gpu-worker-2': 151.4, postgres: 96 },
    throughput: Array.from({ length: 60 }, (_, i) => ({ tMs: (i + 1) * MINUTE, linesPerSecond: 33 + 4 * Math.sin(i / 5) - (i === 20 ? 25 : 0) })),
    violations: [{ invariant: 'lost', record: 'batch_01J9ZK/req-1733', detail: 'in neither the output nor the error file' }],
  };
}

function passing(): SoakReport {
  return { ...fixture(), passed: true, invariants: { ...fixture().invariants, lost: 0 }, violations: [] };
}

/** A run with nothing to draw: no fault injected and no throughput sampled. */
function empty(): SoakReport {
  return { ...passing(), faults: { total: 0, byKind: byKind([]), list: [] }, throughput: [], availability: { ...fixture().availability, failuresByKind: {} } };
}

describe('markdownReport', () => {
  test('has the header line with the verdict, then the figures', () => {
    const md = markdownReport(fixture());
    expect(md.split('\n')[0]).toBe('**Soak: seed 424242, 60 minutes, FAILED**');
    expect(md).toContain('120,000 total: 118,200 succeeded, 1,200 failed as asked, 599 expired/cancelled');
    expect(md).toContain('240 total: cancelled 2, completed 236, expired 2');
    expect(md).toContain('3,000 total, 4 ambiguous');
    expect(md).toContain('99.982% (49,991 ok of 50,000 calls, 120 excluded)');
    expect(md).toContain('failures: 503 temporal_unavailable (5), 502 (2), ECONNREFUSED (1), 1 more');
    expect(md).toContain('18.00 (90 surplus / 5 faults losing work; bound 64)');
    expect(md).toContain('api-1 183, gpu-worker-2 151, gpu-worker-10 140, postgres 96');
    expect(md).toContain('0 (7 delivered more than once, allowed)');
    expect(md).toContain('| 0 of 48 replays');
  });

  test('counts every fault kind, zeros included, and the total', () => {
    const md = markdownReport(fixture());
    expect(md).toContain('6 total: kill 2, pause 1, postgres-restart 1, temporal-restart 0, backend-down 1,');
    for (const kind of FAULT_KINDS) expect(md).toContain(`${kind} ${fixture().faults.byKind[kind]}`);
  });

  test('lists the violations below the table', () => {
    const md = markdownReport(fixture());
    expect(md).toMatch(/\| lost\s+\| 1\s+\|/);
    expect(md).toContain('Violations (1):');
    expect(md).toMatch(/\| lost\s+\| batch_01J9ZK\/req-1733 \| in neither the output nor the error file \|/);
  });

  test('lists only the first 10 of many violations, with a pipe in a record escaped', () => {
    const violations = Array.from({ length: 25 }, (_, i) => ({ invariant: 'doubled', record: `a|b-${i}`, detail: 'twice' }));
    const md = markdownReport({ ...fixture(), violations });
    expect(md).toContain('Violations (the first 10 of 25):');
    expect(md).toContain('a\\|b-9 ');
    expect(md).not.toContain('a\\|b-10');
  });

  test('says PASSED when the run passed, with no violations section', () => {
    const md = markdownReport(passing());
    expect(md.split('\n')[0]).toBe('**Soak: seed 424242, 60 minutes, PASSED**');
    expect(md).not.toContain('FAILED');
    expect(md).not.toContain('Violations');
  });

  test('shows ratios over nothing as n/a', () => {
    const md = markdownReport({ ...empty(), availability: { calls: 0, ok: 0, excluded: 0, ratio: NaN, failuresByKind: {} } });
    expect(md).toContain('| n/a (0 ok of 0 calls, 0 excluded) |');
  });

  test('pads the table so that its values line up in a terminal', () => {
    const rows = markdownReport(fixture()).split('\n\n')[1]!.split('\n');
    expect(new Set(rows.map((row) => row.indexOf('|', 1))).size).toBe(1);
    const [header, , ...body] = rows;
    expect([header, ...body].every((row) => row!.endsWith(' |') && !row!.endsWith('  |'))).toBe(true);
  });
});

/** The PNG's width and height, from its IHDR chunk (which a PNG must start with). */
function pngSize(png: Buffer): { width: number; height: number } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(png.toString('latin1', 12, 16)).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('writePlot', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'soak-report-'))));
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  test('writes a PNG of about 1200×500', async () => {
    const file = path.join(dir, 'soak.png');
    await writePlot(fixture(), file);
    const { width, height } = pngSize(await fs.readFile(file));
    expect(width).toBe(1200);
    expect(height).toBeGreaterThanOrEqual(450);
    expect(height).toBeLessThanOrEqual(550);
  });

  test('draws a run with no faults and no throughput samples', async () => {
    const file = path.join(dir, 'empty.png');
    await writePlot(empty(), file);
    expect(pngSize(await fs.readFile(file)).width).toBe(1200);
  });

  test('writeReportFiles writes the forms asked for, creating their directory', async () => {
    const json = path.join(dir, 'out', 'soak.json');
    const png = path.join(dir, 'out', 'soak.png');
    await writeReportFiles(fixture(), { json, png });
    expect(JSON.parse(await fs.readFile(json, 'utf8'))).toEqual(fixture());
    pngSize(await fs.readFile(png));
    expect(await fs.readdir(path.join(dir, 'out'))).toEqual(['soak.json', 'soak.png']);
  });
});
