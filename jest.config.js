/** Unit tests are pure; integration tests share one Temporal dev server, Postgres and simulator started in globalSetup. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  // The real-vLLM suite has its own command (npm run test:vllm): it installs and starts vLLM.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/vllm/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] },
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  testTimeout: 180000,
  verbose: true,
};
