// ESLint (flat config): typescript-eslint's type-aware recommended rules for the TypeScript of src/, test/ and bench/,
// ESLint's recommended rules for the plain JavaScript config files, and eslint-config-prettier last, so that
// formatting is prettier's alone (`npm run format`).
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', '.tools/', 'data/', 'coverage/'] },
  // An `eslint-disable` comment that no longer suppresses anything fails the lint, so each one left means something.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  eslint.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // Each file is checked with its nearest tsconfig.json: src/ with ./tsconfig.json, test/ with test/tsconfig.json,
      // bench/ with bench/tsconfig.json.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Async functions without `await` implement Promise-returning contracts (Temporal activities, `stop()` functions,
      // test fakes): `async` keeps a throw a rejection, which dropping it would turn into a synchronous exception.
      '@typescript-eslint/require-await': 'off',
      // Abortable waits reject with `signal.reason` (typed `any`), as the platform's own abortable APIs do.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true }],
      // As tsc's noUnusedParameters: a leading `_` marks a parameter kept for its position (Express tells an error
      // handler by its four parameters); `{ $id: _i, ...rest }` destructures to leave properties out.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read HTTP and JSON bodies as `any` on purpose and let `expect` check their shape; jest's asymmetric
      // matchers (`expect.any(Number)`, `expect.stringMatching(...)`) are themselves typed `any`.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  prettier,
);
