/** The real-vLLM suite (`npm run test:vllm`): the stack of jest.config.js plus a vLLM server per suite. */
const base = require('./jest.config');
const stack = base.projects.find((p) => p.displayName === 'stack');

module.exports = { testTimeout: base.testTimeout, verbose: true, projects: [{ ...stack, displayName: 'vllm', roots: ['<rootDir>/test/vllm'] }] };
