/**
 * The layering `npm run lint` enforces (dependency-cruiser). A request goes src/api → use cases
 * (src/batches, src/files, src/webhooks) → src/workflows → src/activities → domain → src/store;
 * states are defined once in src/states, which every layer may import and which imports nothing.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import loop makes load order matter and hides which module owns what.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'store-is-storage',
      severity: 'error',
      comment: 'src/store runs SQL for the layers above it; it knows only the database and the state definitions.',
      from: { path: '^src/store/' },
      to: { path: '^src/', pathNot: '^src/(store|db|states)/' },
    },
    {
      name: 'routes-only-translate-http',
      severity: 'error',
      comment: 'Routes map HTTP to use cases (src/batches, src/files, src/webhooks) and outcomes to HTTP; they never run SQL. Authentication resolves keys itself.',
      from: { path: '^src/api/', pathNot: '^src/api/auth\\.ts$' },
      to: { path: '^src/store/' },
    },
    {
      name: 'states-are-a-leaf',
      severity: 'error',
      comment: 'src/states is imported by everything, workflows included, so it imports nothing of ours.',
      from: { path: '^src/states/' },
      to: { path: '^src/', pathNot: '^src/states/' },
    },
    {
      name: 'workflows-stay-deterministic',
      severity: 'error',
      comment: 'Workflow code runs in the sandbox: only types from the layers that do I/O.',
      from: { path: '^src/workflows/' },
      to: { path: '^src/(activities|api|batches|db|files|inference|main|store|worker)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'one-temporal-gateway',
      severity: 'error',
      comment: 'Use cases start, signal and query workflows through src/temporal/gateway.ts only.',
      from: { pathNot: '^src/(temporal|main)/' },
      to: { path: '@temporalio/client', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
