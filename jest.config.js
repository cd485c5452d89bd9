/**
 * Three layers (README: Tests): pure unit tests with nothing started; component tests of domain
 * functions and workflows against the real PostgreSQL and Temporal dev server; end-to-end tests of
 * the built service as real processes. The last two share one stack, started once in globalSetup.
 * The `apart` project holds the end-to-end tests that mostly wait (outages of 90 s, a cluster's start,
 * a terminal, crash loops): `npm test` runs it in a jest of its own beside the others (scripts/test.sh).
 */
const ts = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] };
const stack = {
  testEnvironment: 'node',
  transform: ts,
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
};
const APART = ['dependencyOutages', 'cluster', 'cli', 'queueCrashes'].map((name) => `<rootDir>/test/integration/${name}.test.ts`);

module.exports = {
  testTimeout: 180000,
  verbose: true,
  projects: [
    { displayName: 'unit', testEnvironment: 'node', transform: ts, roots: ['<rootDir>/test/unit'] },
    {
      displayName: 'stack',
      ...stack,
      roots: ['<rootDir>/test/component', '<rootDir>/test/integration'],
      testPathIgnorePatterns: APART.map((path) => `${path.replaceAll('.', '\\.')}$`),
    },
    { displayName: 'apart', ...stack, testMatch: APART },
  ],
};
