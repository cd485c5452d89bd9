/**
 * The layering `npm run lint` enforces (dependency-cruiser). A request goes src/api → use cases
 * (src/batches, src/files, src/queues, src/webhooks) → src/store, starting workflows through
 * src/temporal/gateway.ts; a workflow's activities (src/activities) run the pipeline (src/pipeline)
 * → src/store. States are defined once in src/states and the shared vocabulary (endpoints,
 * priority, completion window, task queues) in src/domain: every layer may import both, and they
 * import nothing else of ours.
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
      name: 'domain-is-a-leaf',
      severity: 'error',
      comment: 'src/domain is the vocabulary every layer shares, workflows included, so it imports nothing of ours but the state definitions.',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: '^src/(domain|states)/' },
    },
    {
      name: 'only-activities-run-the-pipeline',
      severity: 'error',
      comment:
        'src/pipeline (planning, chunks, result files, finalize, reconcile) is what activities run: at run time only they import it; workflows name its types. With the two rules below, the API (its routes and every use case they call) never reaches the pipeline: a request can only start a workflow.',
      from: { pathNot: '^src/(activities|pipeline)/' },
      to: { path: '^src/pipeline/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-workers-load-activities',
      severity: 'error',
      comment: 'Activities are registered by the worker roles (src/roles); workflows take only their types.',
      from: { pathNot: '^src/(activities|roles)/' },
      to: { path: '^src/activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-entry-points-start-workers',
      severity: 'error',
      comment: 'The worker roles are started by the entry points (src/main) only; the API importing src/main would be an import loop.',
      from: { pathNot: '^src/(main|roles)/' },
      to: { path: '^src/roles/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'workflows-stay-deterministic',
      severity: 'error',
      comment: 'Workflow code runs in the sandbox: only types from the layers that do I/O.',
      from: { path: '^src/workflows/' },
      to: { path: '^src/(activities|api|batches|db|files|inference|main|pipeline|roles|store)/', dependencyTypesNot: ['type-only'] },
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
