export default async function globalTeardown(): Promise<void> {
  for (const stop of (globalThis.__testStackStops ?? []).reverse()) await stop();
}
