import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '../support/repo';
import { testStack } from '../support/stack';

/**
 * The production compose layout (docker-compose.yml, the simulator override, the monitoring profile),
 * resolved by a real Compose implementation's parser: `docker-compose config` (Debian's 1.29 in CI,
 * installed by scripts/ensure-test-tools.sh; a Compose v2 `docker-compose` works as well). It
 * needs no Docker engine, so nothing here starts a container: what can only be seen by running the
 * images (that vLLM's, Temporal's and PostgreSQL's images ship the commands their services run, that
 * a GPU is granted) is out of reach, and is the README's quick start to try on a Docker host.
 *
 * What is checked: the files parse and validate; the services, their start order and health checks;
 * the pinned images; and that every command run from our image exists in the image's layout (the
 * Dockerfile's runtime stage, as its COPY lines build it, from `npm run build`'s dist/), as does
 * every script and config file mounted into the others.
 */

type DependsOn = Record<string, { condition?: string }>;
type Volume = string | { type?: string; source?: string; target?: string };
type Service = {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | null>;
  depends_on?: DependsOn | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  restart?: string;
  profiles?: string[];
  volumes?: Volume[];
  networks?: Record<string, { aliases?: string[] } | null>;
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; count?: number | string; capabilities?: string[] }> } } };
};
type Project = { services: Record<string, Service> };

const BASE = ['-f', 'docker-compose.yml'];
const SIMULATOR = [...BASE, '-f', 'docker-compose.simulator.yml'];
const OUR_IMAGE = /^vllm-batch-server:/;

// Only PATH and HOME: every ${VAR:-default} of the files takes its default, whatever the shell has.
const composeEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };

function composeVersion(): number {
  const out = execFileSync('docker-compose', ['version', '--short'], { cwd: REPO_ROOT, env: composeEnv, encoding: 'utf8' });
  return Number.parseInt(out.trim().replace(/^v/, ''), 10);
}

/** `docker-compose config` of these files and profiles, as an object; throws with compose's message if it rejects them. */
function resolve(files: string[], profiles: string[] = []): Project {
  const args = [...profiles.flatMap((p) => ['--profile', p]), ...files, 'config'];
  const run = (argv: string[], input?: string) => {
    const result = spawnSync(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, env: composeEnv, encoding: 'utf8', input, timeout: 60_000 });
    if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stderr}`);
    return result.stdout;
  };
  if (composeVersion() >= 2) return JSON.parse(run(['docker-compose', ...args, '--format', 'json'])) as Project;
  // Compose 1.x prints YAML only; it is a Python program, so PyYAML is there to turn it into JSON.
  const yaml = run(['docker-compose', ...args]);
  return JSON.parse(run(['python3', '-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], yaml)) as Project;
}

/** The services that `up` starts with these profiles (Compose 1.x lists the others too, with their profiles). */
function active(project: Project, profiles: string[] = []): Record<string, Service> {
  return Object.fromEntries(Object.entries(project.services).filter(([, s]) => !s.profiles || s.profiles.some((p) => profiles.includes(p))));
}

const list = (value: string[] | string | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : value.split(/\s+/));

function dependencies(service: Service): Record<string, string> {
  const deps = service.depends_on ?? {};
  return Array.isArray(deps)
    ? Object.fromEntries(deps.map((d) => [d, 'service_started']))
    : Object.fromEntries(Object.entries(deps).map(([d, v]) => [d, v.condition ?? 'service_started']));
}

/** Bind mounts as [host path, container path]; named volumes are left out. */
function bindMounts(service: Service): Array<[string, string]> {
  return (service.volumes ?? []).flatMap((v): Array<[string, string]> => {
    if (typeof v === 'string') {
      const [source, target] = v.split(':');
      return source && target && path.isAbsolute(source) ? [[source, target]] : [];
    }
    return v.type === 'bind' && v.source && v.target ? [[v.source, v.target]] : [];
  });
}

/** The host file a container path of `service` comes from through its bind mounts, if any. */
function hostPath(service: Service, containerPath: string): string | undefined {
  for (const [source, target] of bindMounts(service)) {
    if (containerPath === target) return source;
    if (containerPath.startsWith(`${target}/`)) return path.join(source, containerPath.slice(target.length + 1));
  }
  return undefined;
}

/**
 * Where each path of the Dockerfile's runtime image comes from in this repository: its last stage's
 * WORKDIR and COPY lines, a `--from=<stage>` source resolved against that stage's WORKDIR (the build
 * stage's files are the repository's after `npm run build`, which the test also checks it runs).
 */
function imageLayout(): { workdir: string; copies: Array<{ dest: string; repoPath: string }>; buildRuns: string[] } {
  const lines = fs
    .readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  type Stage = { name: string | undefined; workdir: string; copies: Array<{ dest: string; repoPath: string }>; runs: string[] };
  const stages: Stage[] = [];
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const stage = stages.at(-1);
    switch (instruction!.toUpperCase()) {
      case 'FROM': {
        const as = rest.findIndex((w) => w.toUpperCase() === 'AS');
        stages.push({ name: as >= 0 ? rest[as + 1] : undefined, workdir: '/', copies: [], runs: [] });
        break;
      }
      case 'WORKDIR':
        stage!.workdir = path.posix.resolve(stage!.workdir, rest[0]!);
        break;
      case 'RUN':
        stage!.runs.push(rest.join(' '));
        break;
      case 'COPY': {
        const from = rest.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const args = rest.filter((w) => !w.startsWith('--'));
        const dest = path.posix.resolve(stage!.workdir, args.at(-1)!);
        const source = from ? stages.find((s) => s.name === from) : undefined;
        if (from && !source) throw new Error(`Dockerfile: COPY --from=${from} names no earlier stage`);
        for (const src of args.slice(0, -1)) {
          // Inside another stage: its path relative to that stage's WORKDIR is the repository's path.
          const repoPath = source ? path.posix.relative(source.workdir, path.posix.resolve(source.workdir, src)) : path.posix.normalize(src);
          const many = args.length > 2 || args.at(-1)!.endsWith('/') || args.at(-1) === '.';
          stage!.copies.push({ dest: many ? path.posix.join(dest, path.posix.basename(src)) : dest, repoPath });
        }
        break;
      }
    }
  }
  const runtime = stages.at(-1)!;
  const buildRuns = stages.slice(0, -1).flatMap((s) => s.runs);
  return { workdir: runtime.workdir, copies: runtime.copies, buildRuns };
}

/** The repository file that provides `file` (absolute, in the runtime image), or undefined if no COPY does. */
function repoFileInImage(file: string): string | undefined {
  const { copies } = imageLayout();
  for (const { dest, repoPath } of copies) {
    if (file === dest) return repoPath;
    if (file.startsWith(`${dest}/`)) return path.posix.join(repoPath, file.slice(dest.length + 1));
  }
  return undefined;
}

describe('docker-compose.yml (production layout), validated by docker-compose config', () => {
  let gpu: Project;
  let simulator: Project;
  let monitoring: Project;

  beforeAll(() => {
    gpu = resolve(BASE);
    simulator = resolve(SIMULATOR);
    monitoring = resolve(BASE, ['monitoring']);
  });

  test('the GPU layout: Temporal with its schema and namespace jobs, our migrations, API, orchestrator, vLLM and one inference worker', () => {
    expect(Object.keys(active(gpu)).sort()).toEqual(
      ['api', 'gpu-worker', 'migrate', 'orchestrator', 'postgres', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui', 'vllm'].sort(),
    );
    const vllm = gpu.services.vllm!;
    expect(vllm.deploy?.resources?.reservations?.devices).toEqual([expect.objectContaining({ driver: 'nvidia', capabilities: ['gpu'] })]);
    expect(Number(vllm.deploy!.resources!.reservations!.devices![0]!.count)).toBe(1);
    expect(list(vllm.healthcheck?.test).join(' ')).toContain(':8000/health');
    expect(gpu.services['gpu-worker']!.environment).toMatchObject({ WORKER_ROLES: 'inference', VLLM_BASE_URL: 'http://vllm:8000/v1' });
    expect(gpu.services.orchestrator!.environment).toMatchObject({ WORKER_ROLES: 'orchestrator' });
    for (const name of ['api', 'orchestrator', 'gpu-worker', 'migrate']) {
      expect(gpu.services[name]!.environment).toMatchObject({
        DATABASE_URL: expect.stringMatching(/^postgres:\/\/.+@postgres:5432\//),
        TEMPORAL_ADDRESS: 'temporal:7233',
      });
    }
  });

  test('images are pinned; Temporal is the plain server (not auto-setup) at 1.28 or later, with admin-tools of the same release', () => {
    for (const [name, service] of Object.entries(gpu.services)) {
      const image = service.image ?? '';
      if (OUR_IMAGE.test(image)) {
        expect(service.build).toBeDefined();
        continue;
      }
      expect({ name, image }).toEqual({ name, image: expect.stringMatching(/^[\w./-]+:v?\d+\.\d+(\.\d+)?$/) });
      expect(image).not.toMatch(/auto-setup/);
    }
    const version = (image: string | undefined) => image!.split(':')[1]!;
    expect(gpu.services.temporal!.image).toMatch(/^temporalio\/server:/);
    const server = version(gpu.services.temporal!.image);
    const [major, minor] = server.split('.').map(Number);
    expect(major! > 1 || minor! >= 28).toBe(true);
    expect(gpu.services['temporal-schema']!.image).toBe(`temporalio/admin-tools:${server}`);
    expect(gpu.services['temporal-namespace']!.image).toBe(`temporalio/admin-tools:${server}`);
  });

  test('depends_on makes `up` start in order: health checks behind every service_healthy, one-shot jobs behind every service_completed_successfully', () => {
    const deps = Object.fromEntries(Object.entries(active(gpu)).map(([name, s]) => [name, dependencies(s)]));
    expect(deps['temporal-schema']).toEqual({ postgres: 'service_healthy' });
    expect(deps.temporal).toEqual({ 'temporal-schema': 'service_completed_successfully' });
    expect(deps['temporal-namespace']).toEqual({ temporal: 'service_healthy' });
    expect(deps.migrate).toEqual({ postgres: 'service_healthy' });
    for (const name of ['api', 'orchestrator', 'gpu-worker']) {
      expect(deps[name]).toEqual({ migrate: 'service_completed_successfully', 'temporal-namespace': 'service_completed_successfully' });
    }
    for (const [name, needs] of Object.entries(deps)) {
      for (const [dependency, condition] of Object.entries(needs)) {
        const target = gpu.services[dependency];
        expect({ name, dependency, defined: target !== undefined && !target.profiles }).toEqual({ name, dependency, defined: true });
        if (condition === 'service_healthy') expect({ dependency, healthcheck: list(target!.healthcheck?.test).length > 0 }).toEqual({ dependency, healthcheck: true });
        // A job restarted on exit never completes: its dependents would wait for ever.
        if (condition === 'service_completed_successfully') expect({ dependency, restart: target!.restart ?? 'no' }).toEqual({ dependency, restart: 'no' });
      }
    }
    expect(list(gpu.services.api!.healthcheck?.test).join(' ')).toMatch(/fetch\('http:\/\/127\.0\.0\.1:4080\/readyz'\)/);
  });

  test('the simulator override swaps vLLM for `node dist/main/simulator.js`, reachable as vllm:8000, and reserves no GPU', () => {
    const services = active(simulator);
    expect(Object.keys(services)).not.toContain('vllm');
    expect(Object.keys(services)).toContain('simulator');
    const sim = services.simulator!;
    expect(sim.image).toMatch(OUR_IMAGE);
    expect(list(sim.command)).toEqual(['node', 'dist/main/simulator.js']);
    expect(sim.environment).toMatchObject({ SIMULATOR_PORT: '8000' });
    expect(sim.networks?.default?.aliases).toContain('vllm');
    expect(services['gpu-worker']!.environment).toMatchObject({ VLLM_BASE_URL: 'http://vllm:8000/v1', VLLM_MODELS: sim.environment!.SIMULATOR_MODELS });
    for (const [name, service] of Object.entries(services)) expect({ name, gpu: service.deploy?.resources?.reservations?.devices ?? [] }).toEqual({ name, gpu: [] });
  });

  test('the monitoring profile adds Prometheus and Grafana; every scrape target is a service of the layout', () => {
    const services = active(monitoring, ['monitoring']);
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['prometheus', 'grafana']));
    const prometheus = services.prometheus!;
    const config = hostPath(prometheus, '/etc/prometheus/prometheus.yml');
    expect(config).toBeDefined();
    const targets = [...fs.readFileSync(config!, 'utf8').matchAll(/"([\w-]+):(\d+)"/g)].map((m) => m[1]!);
    expect(targets.sort()).toEqual(['api', 'gpu-worker', 'orchestrator', 'temporal', 'vllm']);
    for (const host of targets) expect(Object.keys(gpu.services)).toContain(host);
    expect(gpu.services.temporal!.environment).toMatchObject({ PROMETHEUS_ENDPOINT: '0.0.0.0:8000' });
    // Every process, the API's included, serves its metrics on a port of the compose network only.
    for (const process of ['api', 'orchestrator', 'gpu-worker']) expect(gpu.services[process]!.environment).toMatchObject({ METRICS_PORT: '9464' });
    const grafana = services.grafana!;
    expect(fs.existsSync(path.join(hostPath(grafana, '/etc/grafana/provisioning')!, 'dashboards', 'vbs.yml'))).toBe(true);
    expect(fs.existsSync(hostPath(grafana, '/etc/grafana/dashboards')!)).toBe(true);
  });

  test('every command run from our image exists in the image the Dockerfile builds', () => {
    const layout = imageLayout();
    expect(layout.buildRuns.join('\n')).toMatch(/npm run build/);
    // migrate.js finds the SQL files at ../../migrations from dist/db: the image must carry both.
    expect(repoFileInImage(path.posix.join(layout.workdir, 'migrations'))).toBe('migrations');
    const ours = Object.entries({ ...gpu.services, ...simulator.services }).filter(([, s]) => OUR_IMAGE.test(s.image ?? ''));
    expect(ours.map(([name]) => name).sort()).toEqual(['api', 'gpu-worker', 'migrate', 'orchestrator', 'simulator']);
    for (const [name, service] of ours) {
      const [binary, script, ...rest] = list(service.command);
      expect({ name, binary, rest }).toEqual({ name, binary: 'node', rest: [] });
      const inImage = path.posix.resolve(layout.workdir, script!);
      const repoFile = repoFileInImage(inImage);
      expect({ name, inImage, copiedFrom: repoFile }).toEqual({ name, inImage, copiedFrom: expect.any(String) });
      expect({ name, built: repoFile, exists: fs.existsSync(path.join(REPO_ROOT, repoFile!)) }).toEqual({ name, built: repoFile, exists: true });
    }
  });

  test("the admin-tools jobs' scripts and Temporal's dynamic config are mounted from files that exist and parse", () => {
    for (const name of ['temporal-schema', 'temporal-namespace']) {
      const service = gpu.services[name]!;
      const [shell, script] = list(service.entrypoint);
      expect({ name, shell }).toEqual({ name, shell: '/bin/sh' });
      const file = hostPath(service, script!);
      expect({ name, script, mountedFrom: file && fs.existsSync(file) }).toEqual({ name, script, mountedFrom: true });
      // The admin-tools image is Alpine: BusyBox sh, POSIX. `sh -n` parses without running.
      expect(spawnSync('sh', ['-n', file!]).status).toBe(0);
    }
    const schemaScript = fs.readFileSync(hostPath(gpu.services['temporal-schema']!, '/deploy/setup-schema.sh')!, 'utf8');
    expect(schemaScript).toMatch(/\/etc\/temporal\/schema\/postgresql\/v12/);
    const temporal = gpu.services.temporal!;
    const dynamicConfig = hostPath(temporal, temporal.environment!.DYNAMIC_CONFIG_FILE_PATH!);
    expect(dynamicConfig && fs.existsSync(dynamicConfig)).toBe(true);
    const text = fs.readFileSync(dynamicConfig!, 'utf8');
    for (const key of ['matching.enableFairness', 'system.enableDeploymentVersions'])
      expect(text).toMatch(new RegExp(`^${key.replaceAll('.', '\\.')}:\\n\\s+- value: true`, 'm'));
  });
});

describe('the migrate job (dist/main/migrate.js)', () => {
  test('applies every migration and exits 0; a second run has nothing to do', async () => {
    const { databaseUrl } = testStack();
    const run = () =>
      spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/main/migrate.js')], {
        env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
        encoding: 'utf8',
        timeout: 60_000,
      });
    for (let i = 0; i < 2; i++) {
      const result = run();
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
      expect(result.stdout).toContain('database schema is up to date');
    }
    const newest = Math.max(
      ...fs
        .readdirSync(path.join(REPO_ROOT, 'migrations'))
        .map((f) => Number.parseInt(f, 10))
        .filter(Number.isFinite),
    );
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ newest: number }>('SELECT max(version)::int AS newest FROM schema_migrations');
      expect(rows[0]!.newest).toBe(newest);
    } finally {
      await client.end();
    }
  });

  test('without DATABASE_URL it stops with one line naming it', () => {
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist/main/migrate.js')], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 20_000 });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('DATABASE_URL is required');
  });
});
