import fs from 'node:fs';
import path from 'node:path';

/**
 * The repository's root: the nearest folder above this file whose package.json is this project's.
 * Test support also runs compiled, from dist-bench/test/support (the benches use it), so paths are
 * resolved from here rather than by counting `..`.
 */
export const REPO_ROOT = ((): string => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'vllm-batch-server') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no vllm-batch-server package.json above ${__dirname}`);
  }
})();

/** The V8 heap cap the npm scripts run every entry point with (package.json `config.heapMb`). */
export const HEAP_FLAGS = [
  `--max-old-space-size=${(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { config: { heapMb: string } }).config.heapMb}`,
];

/** A built entry point or CLI, e.g. `main/start.js`. */
export const built = (relative: string) => path.join(REPO_ROOT, 'dist', relative);
