/** The real-vLLM suite (`npm run test:vllm`): the integration stack of jest.config.js plus a vLLM server per suite. */
const base = require('./jest.config');

module.exports = { ...base, roots: ['<rootDir>/test/vllm'], testPathIgnorePatterns: [] };
