/**
 * Part of `npm run bench:runtime`: what the runtime costs before any job — time to print a configuration
 * error, and resident memory when idle with one PostgreSQL connection, the tunnel up and Redis connected —
 * for the bundle the image ships (scripts/bundle.ts) and for the plain tsc output of the same sources,
 * side by side. With SDR_BENCH_BASELINE_REF=<git ref> the same is measured for that commit's tsc build
 * (e.g. the commit before SDKs were loaded lazily); SDR_BENCH_ENTRY=<file> adds another runtime entry. A
 * second table breaks the tsc build's idle footprint down by what loads it: node itself, its built-ins,
 * each dependency group and the daemon's own modules (the bundle has no per-file modules to stage).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { compileInto, compiledWithTsc } from '../../scripts/compiled-build.js';
import { compiledRuntime, printTable, writeResults } from '../harness.js';
import { createCloud } from '../../cloud/index.js';
import { cloudApi, repoRoot } from '../../scripts/local-stack.js';
import { RuntimeProcess } from '../../scripts/runtime-process.js';
import { PgFixture } from '../../tests/support/pg-fixture.js';

const runs = Number(process.env.SDR_BENCH_RUNS ?? '5');
const nodeOptions = (process.env.SDR_BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
/** Extra environment for every runtime run (e.g. {"MALLOC_ARENA_MAX":"2"}). */
const extraEnv = JSON.parse(process.env.SDR_BENCH_ENV ?? '{}') as Record<string, string>;
/** The start-up transient: what the bench reported before it waited for the idle state. */
const startupSettleMs = 8_000;
/**
 * How long the runtime idles before "idle RSS" is read. V8's memory reducer shrinks the young generation
 * that start-up grew (16 MiB semi-spaces) only 10–90 s after allocation calms down (later on a loaded machine); before that the
 * RSS is ~20 MB higher than where it stays.
 */
const idleMs = Number(process.env.SDR_BENCH_IDLE_MS ?? '90000');

/** Compiles `ref`'s sources (git archive, so the worktree is untouched) and returns its runtime entry. */
function compiledAt(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sdr-baseline-'));
  execFileSync('sh', ['-c', `git archive ${ref} | tar -x -C ${dir}`], { cwd: repoRoot });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  compileInto(dir, dir);
  return join(dir, 'dist/runtime/main.js');
}

/** Wall time from spawn to exit of a runtime given no settings at all, which must exit 78. */
async function timeToConfigError(entry: string): Promise<number> {
  const started = process.hrtime.bigint();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...nodeOptions, entry], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...extraEnv },
      stdio: 'ignore',
    });
    child.once('exit', resolve);
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 78) throw new Error(`${entry} exited ${code} on a missing configuration, not 78`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

interface Memory {
  rssMb: number;
  anonMb: number;
  fileMb: number;
  peakMb: number;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rssMb: mb('VmRSS'), anonMb: mb('RssAnon'), fileMb: mb('RssFile'), peakMb: mb('VmHWM') };
}

const round = (mb: number) => Math.round(mb * 10) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Memory of the runtime idling with one PostgreSQL connection, the tunnel up and Redis connected: at
 * `startupSettleMs` after the tunnel came up, and the median over the last 10 s of `idleMs`.
 */
async function idleMemory(entry: string, fixture: PgFixture): Promise<{ startup: Memory; idle: Memory }> {
  const workDir = mkdtempSync(join(tmpdir(), 'sdr-bench-idle-'));
  const cloud = await createCloud({ dataDir: join(workDir, 'cloud'), logger: false });
  const { token } = await cloudApi<{ token: string }>(cloud, 'POST', '/v1/agents', { name: 'idle' });
  const connectionsFile = join(workDir, 'connections.yaml');
  writeFileSync(connectionsFile, fixture.connectionYaml());
  const runtime = new RuntimeProcess(
    {
      SDR_CLOUD_URL: cloud.tunnelUrl,
      SDR_ALLOW_INSECURE_TUNNEL: 'true',
      SDR_AGENT_TOKEN: token,
      SDR_CLOUD_PUBLIC_KEY: cloud.publicKeyPem,
      SDR_CONNECTIONS_FILE: connectionsFile,
      // A queue of its own per run: the runtime binds its queue to the agent of its first welcome.
      SDR_QUEUE_NAME: `sdr-bench-idle-${randomBytes(4).toString('hex')}`,
      SDR_HEALTH_PORT: '0',
      ...fixture.secretEnv,
      ...extraEnv,
    },
    { compiledEntry: entry, nodeOptions },
  ).start();
  try {
    // A loaded machine can take minutes to start node; the bench waits for the state it measures.
    await runtime.waitForMessage('tunnel up', 600_000);
    const pid = runtime.pid as number;
    const upAt = Date.now();
    await sleep(startupSettleMs);
    const startup = memoryOf(pid);
    await sleep(Math.max(0, upAt + idleMs - 10_000 - Date.now()));
    const samples: Memory[] = [];
    for (let i = 0; i < 10; i++) {
      samples.push(memoryOf(pid));
      await sleep(1_000);
    }
    const idle = [...samples].sort((a, b) => a.rssMb - b.rssMb)[5] as Memory;
    return { startup, idle: { ...idle, peakMb: memoryOf(pid).peakMb } };
  } finally {
    await runtime.stop('SIGTERM').catch(() => runtime.stop('SIGKILL'));
    await cloud.close();
  }
}

/**
 * What the idle footprint is made of: a fresh node imports, one stage after another, node's built-ins,
 * each group of dependencies and the daemon's own modules from the compiled build, and reports the RSS
 * after a memory-reducing full GC (what V8 reaches when idle) after each stage.
 */
function memoryStages(entry: string): { stage: string; rssMb: number; anonMb: number; fileMb: number }[] {
  const dist = dirname(dirname(entry));
  const stages: [string, string[]][] = [
    ['node 22 itself (an empty script)', []],
    [
      "node's built-ins the runtime uses (http, https, tls, crypto, zlib, dns, worker_threads)",
      ['node:http', 'node:https', 'node:tls', 'node:crypto', 'node:zlib', 'node:dns', 'node:worker_threads'],
    ],
    ['yaml + zod (configuration, frames)', ['yaml', 'zod']],
    ['protocol/ and the config compiler', [`${dist}/runtime/config.js`]],
    ['ioredis + pino (imported by the config compiler)', ['ioredis', 'pino']],
    ['bullmq (with cron-parser, luxon, msgpackr)', ['bullmq']],
    ['prom-client', ['prom-client']],
    ['ws + https-proxy-agent (the tunnel)', ['ws', 'https-proxy-agent']],
    ["the daemon's own modules", [`${dist}/runtime/start.js`, `${dist}/runtime/daemon.js`]],
    ['the PostgreSQL adapter (pg)', [`${dist}/adapters/postgres/index.js`]],
  ];
  const script = join(dirname(dist), `memory-stages-${process.pid}.mjs`);
  writeFileSync(
    script,
    `import { readFileSync } from 'node:fs';
const stages = ${JSON.stringify(stages)};
const mb = (field) => Number(readFileSync('/proc/self/status', 'utf8').split(String.fromCharCode(10)).find((line) => line.startsWith(field + ':')).replace(/[^0-9]/g, '')) / 1024;
const rows = [];
for (const [stage, specifiers] of stages) {
  for (const specifier of specifiers) await import(specifier);
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  rows.push({ stage, rssMb: mb('VmRSS'), anonMb: mb('RssAnon'), fileMb: mb('RssFile') });
}
process.stdout.write(JSON.stringify(rows));
`,
  );
  const output = execFileSync(process.execPath, [...nodeOptions, '--expose-gc', script], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...extraEnv },
    encoding: 'utf8',
  });
  return JSON.parse(output) as { stage: string; rssMb: number; anonMb: number; fileMb: number }[];
}

const builds: { name: string; entry: string }[] = [
  { name: 'this build, bundled (as shipped)', entry: compiledRuntime() },
  { name: 'this build, tsc output', entry: compiledWithTsc() },
];
const baseline = process.env.SDR_BENCH_BASELINE_REF;
if (baseline) builds.push({ name: `baseline ${baseline}`, entry: compiledAt(baseline) });

const extraEntry = process.env.SDR_BENCH_ENTRY;
if (extraEntry) builds.push({ name: extraEntry, entry: extraEntry });

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0] as string;
const fixture = await PgFixture.create('sdr_bench_idle', 1);
const rows: Record<string, string | number>[] = [];
/** The tsc build's idle memory, the last row of the breakdown. */
let idleOfTscBuild: Memory | undefined;
try {
  for (const build of builds) {
    const loadBefore = load();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await timeToConfigError(build.entry));
    const { startup, idle } = await idleMemory(build.entry, fixture);
    if (build === builds[1]) idleOfTscBuild = idle;
    rows.push({
      build: build.name,
      'config error ms (median)': Math.round(median(times)),
      'config error ms (max)': Math.round(Math.max(...times)),
      [`RSS MB ${startupSettleMs / 1000} s after tunnel up`]: round(startup.rssMb),
      [`idle RSS MB (at ${idleMs / 1000} s)`]: round(idle.rssMb),
      'idle anon / file MB': `${round(idle.anonMb)} / ${round(idle.fileMb)}`,
      'start-up peak RSS MB': round(idle.peakMb),
      'load (1 min)': `${loadBefore} → ${load()}`,
    });
  }
} finally {
  await fixture.drop();
}

const settings = `node ${process.version}${nodeOptions.length ? ` ${nodeOptions.join(' ')}` : ''}${
  Object.keys(extraEnv).length
    ? ` ${Object.entries(extraEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`
    : ''
}`;
printTable(`runtime before any job (${settings}; goals: config error < 1000 ms, idle RSS ≤ 80 MB)`, rows);

const stages = memoryStages(builds[1]?.entry as string);
const breakdown: Record<string, string | number>[] = stages.map((stage, index) => ({
  stage: stage.stage,
  'MB added': round(stage.rssMb - (index === 0 ? 0 : (stages[index - 1]?.rssMb as number))),
  'RSS MB': round(stage.rssMb),
  'anon / file MB': `${round(stage.anonMb)} / ${round(stage.fileMb)}`,
}));
const loaded = stages.at(-1) as (typeof stages)[number];
if (idleOfTscBuild) {
  breakdown.push({
    stage: 'running: sockets, Redis clients, queue worker, timers, V8 heap headroom',
    'MB added': round(idleOfTscBuild.rssMb - loaded.rssMb),
    'RSS MB': round(idleOfTscBuild.rssMb),
    'anon / file MB': `${round(idleOfTscBuild.anonMb)} / ${round(idleOfTscBuild.fileMb)}`,
  });
}
printTable(
  `\nwhat the idle RSS of the tsc build is made of (each stage imported in a fresh node, RSS after a memory-reducing GC; load ${load()})`,
  breakdown,
);
console.log(
  `\nwrote ${writeResults('runtime-startup', { runs, nodeOptions, extraEnv, startupSettleMs, idleMs, goals: { configErrorMs: 1000, idleRssMb: 80 }, rows, breakdown })}`,
);
process.exit(0);
