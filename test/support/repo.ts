import fs from 'node:fs';
import path from 'node:path';

type Manifest = { name?: string; config: { heapMb: string } };

/**
 * The repository's root and its package.json: the nearest folder above this file whose package.json
 * is this project's. Test support also runs compiled, from dist-bench/test/support (the benches use
 * it), so paths are resolved from here rather than by counting `..`.
 */
const { root, manifest } = ((): { root: string; manifest: Manifest } => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    const found = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest) : undefined;
    if (found?.name === 'vllm-batch-server') return { root: dir, manifest: found };
    if (path.dirname(dir) === dir) throw new Error(`no vllm-batch-server package.json above ${__dirname}`);
  }
})();

export const REPO_ROOT = root;

/** The V8 heap cap the npm scripts run every entry point with (package.json `config.heapMb`). */
export const HEAP_MB = Number(manifest.config.heapMb);
export const HEAP_FLAGS = [`--max-old-space-size=${HEAP_MB}`];

/** A built entry point or CLI, e.g. `main/start.js`. */
export const built = (relative: string) => path.join(REPO_ROOT, 'dist', relative);
