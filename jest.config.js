/**
 * Three layers (README: Tests): pure unit tests with nothing started; component tests of domain
 * functions and workflows against the real PostgreSQL and Temporal dev server; end-to-end tests of
 * the built service as real processes. The last two share one stack, started once in globalSetup.
 */
const ts = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] };

module.exports = {
  testTimeout: 180000,
  verbose: true,
  projects: [
    { displayName: 'unit', testEnvironment: 'node', transform: ts, roots: ['<rootDir>/test/unit'] },
    {
      displayName: 'stack',
      testEnvironment: 'node',
      transform: ts,
      roots: ['<rootDir>/test/component', '<rootDir>/test/integration'],
      globalSetup: '<rootDir>/test/support/globalSetup.ts',
      globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
    },
  ],
};
