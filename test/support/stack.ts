/**
 * The shared real stack the integration tests run against, started once by globalSetup:
 * a Temporal dev server (TEMPORAL_ADDRESS to reuse one), PostgreSQL (DATABASE_URL, else embedded),
 * and the vLLM simulator. Tests read its coordinates from these variables.
 */
export type TestStack = {
  temporalAddress: string;
  temporalUiUrl: string | undefined;
  databaseUrl: string;
  simulatorUrl: string;
};

const KEYS = {
  temporalAddress: 'TEST_TEMPORAL_ADDRESS',
  temporalUiUrl: 'TEST_TEMPORAL_UI_URL',
  databaseUrl: 'TEST_DATABASE_URL',
  simulatorUrl: 'TEST_SIMULATOR_URL',
} as const;

export function publishStack(stack: TestStack): void {
  for (const [field, key] of Object.entries(KEYS)) {
    const value = stack[field as keyof TestStack];
    if (value !== undefined) process.env[key] = value;
  }
}

export function testStack(): TestStack {
  const read = (key: string) => {
    const value = process.env[key];
    if (!value) throw new Error(`${key} is not set: integration tests need jest's globalSetup`);
    return value;
  };
  return {
    temporalAddress: read(KEYS.temporalAddress),
    temporalUiUrl: process.env[KEYS.temporalUiUrl],
    databaseUrl: read(KEYS.databaseUrl),
    simulatorUrl: read(KEYS.simulatorUrl),
  };
}
