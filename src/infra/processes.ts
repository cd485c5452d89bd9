import fs from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function commandLine(pid: number): Promise<string> {
  return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
}

/** `pid` is alive and its command line contains `marker`: the process a pid file names, not a recycled PID. */
export async function isProcessOf(pid: number, marker: string): Promise<boolean> {
  return isAlive(pid) && (await commandLine(pid)).includes(marker);
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * A previous run killed with SIGKILL leaves its child servers running and holding the data
 * directory and ports. Stops the process named in `pid` if its command line still contains
 * `marker` (so a recycled PID is never touched): `signal` first, SIGKILL if it lingers.
 */
export async function stopLeftoverProcess(pid: number, marker: string, signal: NodeJS.Signals): Promise<boolean> {
  if (!(await isProcessOf(pid, marker))) return false;
  process.kill(pid, signal);
  if (!(await waitUntil(() => !isAlive(pid), 20_000))) {
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !isAlive(pid), 5_000);
  }
  return true;
}

export async function readPidFile(file: string): Promise<number | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  const pid = text === undefined ? NaN : Number.parseInt(text.split('\n')[0]!, 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Sends `signal` and resolves once the child has exited (SIGKILL after `graceMs`). */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
