/**
 * `npm run bench:kafka`: full extraction of 5,000 topics × 6 partitions and 500 consumer groups from a
 * dedicated 3-broker KRaft cluster, against `kcat -L` (metadata only) timed in the same run. Prints a table
 * and writes bench/results/kafka.json. Targets: under 15 s and under 200 MB peak RSS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureExtraction } from '../harness.js';
import { DEFAULT_SHAPE, ensureBenchData } from './generate.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const port = Number(process.env.SDR_BENCH_KAFKA_PORT ?? '19292');
const bootstrap = [0, 1, 2].map((i) => `127.0.0.1:${port + i}`);
const runs = Number(process.env.SDR_BENCH_RUNS ?? '3');
const TARGET_SECONDS = 15;
const TARGET_RSS_MB = 200;

execFileSync('bash', [join(here, 'cluster.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
// The runtime queues jobs in Redis.
execFileSync('bash', [join(root, 'tests/peers/redis.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
const setup = await ensureBenchData(bootstrap, DEFAULT_SHAPE);
execFileSync(
  'bash',
  ['-c', `source ${join(root, 'tests/peers/lib.sh')}; command -v kcat >/dev/null || apt_install kcat`],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);

interface Measured {
  mode: string;
  seconds: number;
  peakRssMb: number;
  requests: number;
  records: Record<string, number>;
  recordBytes: number;
  warnings: number;
}

// Measure compiled JavaScript, as the runtime ships (`npm run build`), not code under the tsx loader.
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
const childScript = join(root, 'dist/bench/kafka/extract-child.js');
/** V8 flags of the measured process: node's defaults, and the heap cap the runtime is meant to run with. */
const HEAP_CAP = ['--max-old-space-size=128'];

function extractOnce(flags: string[] = HEAP_CAP): Measured {
  const child = spawnSync(process.execPath, [...flags, childScript], {
    cwd: root,
    env: { ...process.env, SDR_BENCH_KAFKA_BOOTSTRAP: bootstrap.join(',') },
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`bench extraction failed: ${child.stderr}`);
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Measured;
}

function kcatOnce(): { seconds: number; peakRssMb: number } {
  const started = performance.now();
  const child = spawnSync(
    '/usr/bin/time',
    ['-f', '%M', 'kcat', '-L', '-b', bootstrap.join(','), '-m', '60'],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  if (child.status !== 0) throw new Error(`kcat -L failed: ${child.stderr}`);
  const rssKb = Number(child.stderr.trim().split('\n').at(-1));
  return { seconds, peakRssMb: rssKb / 1024 };
}

// One warm-up of each so the brokers' page cache and JIT are in the same state for both tools.
extractOnce();
kcatOnce();
const adapterRuns = Array.from({ length: runs }, () => extractOnce());
const defaultFlagRuns = Array.from({ length: runs }, () => extractOnce([]));
const kcatRuns = Array.from({ length: runs }, () => kcatOnce());

// The same extraction as a job: cloud → tunnel → runtime queue → adapter → batches → cloud commit.
const connectionsYaml = [
  'connections:',
  '  - name: bench-kafka',
  '    type: kafka',
  `    options: { bootstrapServers: [${bootstrap.join(', ')}], securityProtocol: PLAINTEXT, allowPlaintext: true }`,
  '',
].join('\n');
const stackRuns = [];
const stackRunsCapped = [];
for (let i = 0; i < runs; i++) {
  stackRunsCapped.push(
    await measureExtraction({
      connectionsYaml,
      connection: 'bench-kafka',
      timeoutMs: 5 * 60_000,
      compiled: { nodeOptions: HEAP_CAP },
    }),
  );
  stackRuns.push(
    await measureExtraction({ connectionsYaml, connection: 'bench-kafka', timeoutMs: 5 * 60_000 }),
  );
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

const adapterSeconds = median(adapterRuns.map((r) => r.seconds));
const adapterRss = Math.max(...adapterRuns.map((r) => r.peakRssMb));
const result = {
  date: new Date().toISOString(),
  machine: { cores: (await import('node:os')).cpus().length, node: process.version },
  shape: DEFAULT_SHAPE,
  brokers: bootstrap.length,
  setupSeconds: setup.seconds,
  runs,
  sdr: {
    mode: adapterRuns[0]?.mode,
    nodeFlags: HEAP_CAP,
    medianSeconds: adapterSeconds,
    peakRssMb: adapterRss,
    requests: adapterRuns[0]?.requests,
    records: adapterRuns[0]?.records,
    recordBytes: adapterRuns[0]?.recordBytes,
    warnings: adapterRuns[0]?.warnings,
    allSeconds: adapterRuns.map((r) => r.seconds),
  },
  sdrThroughRuntimeAndCloud: {
    what: 'bench/harness.ts: reference cloud submits the job, runtime (tsx) runs it, cloud commits',
    medianSeconds: median(stackRuns.map((r) => r.wallSeconds)),
    runtimePeakRssMb: Math.max(...stackRuns.map((r) => r.runtimePeakRssMb)),
    records: stackRuns[0]?.records,
    bytes: stackRuns[0]?.bytes,
    batches: stackRuns[0]?.batches,
    allSeconds: stackRuns.map((r) => r.wallSeconds),
  },
  sdrThroughRuntimeAndCloudHeapCap: {
    what: 'same, with the compiled runtime (what the image runs) and a heap cap',
    runtimeNodeOptions: HEAP_CAP.join(' '),
    medianSeconds: median(stackRunsCapped.map((r) => r.wallSeconds)),
    runtimePeakRssMb: Math.max(...stackRunsCapped.map((r) => r.runtimePeakRssMb)),
    allSeconds: stackRunsCapped.map((r) => r.wallSeconds),
  },
  sdrNodeDefaults: {
    nodeFlags: [],
    medianSeconds: median(defaultFlagRuns.map((r) => r.seconds)),
    peakRssMb: Math.max(...defaultFlagRuns.map((r) => r.peakRssMb)),
  },
  kcatMetadataOnly: {
    medianSeconds: median(kcatRuns.map((r) => r.seconds)),
    peakRssMb: Math.max(...kcatRuns.map((r) => r.peakRssMb)),
    requests: 'one Metadata request per bootstrap connection (plus ApiVersions)',
    allSeconds: kcatRuns.map((r) => r.seconds),
  },
  targets: { seconds: TARGET_SECONDS, peakRssMb: TARGET_RSS_MB },
  // The adapter's own process (compiled, as shipped) is what the targets measure; the runtime rows add the
  // queue, tunnel and tsx loader around it and are reported beside it, not hidden.
  pass: adapterSeconds < TARGET_SECONDS && adapterRss < TARGET_RSS_MB,
  passThroughRuntimeHeapCap:
    median(stackRunsCapped.map((r) => r.wallSeconds)) < TARGET_SECONDS &&
    Math.max(...stackRunsCapped.map((r) => r.runtimePeakRssMb)) < TARGET_RSS_MB,
};

const f = (n: number) => n.toFixed(2);
console.log(
  `\nKafka bench: ${DEFAULT_SHAPE.topics} topics × ${DEFAULT_SHAPE.partitions} partitions, ${DEFAULT_SHAPE.groups} groups, ${bootstrap.length} brokers, median of ${runs}\n`,
);
console.log('| tool | what | wall s | peak RSS MB | requests |');
console.log('| --- | --- | ---: | ---: | ---: |');
console.log(
  `| sdr (${result.sdr.mode}, ${HEAP_CAP.join(' ')}) | full extraction: topics, configs, watermarks, sizes, groups, offsets, lag | ${f(adapterSeconds)} | ${f(adapterRss)} | ${result.sdr.requests} |`,
);
console.log(
  `| sdr (${result.sdr.mode}, node defaults) | same | ${f(result.sdrNodeDefaults.medianSeconds)} | ${f(result.sdrNodeDefaults.peakRssMb)} | ${result.sdr.requests} |`,
);
console.log(
  `| sdr (runtime + reference cloud, tsx) | same, as a job: submit → tunnel → queue → batches → commit | ${f(result.sdrThroughRuntimeAndCloud.medianSeconds)} | ${f(result.sdrThroughRuntimeAndCloud.runtimePeakRssMb)} | ${result.sdr.requests} |`,
);
console.log(
  `| sdr (runtime + reference cloud, compiled, ${HEAP_CAP.join(' ')}) | same | ${f(result.sdrThroughRuntimeAndCloudHeapCap.medianSeconds)} | ${f(result.sdrThroughRuntimeAndCloudHeapCap.runtimePeakRssMb)} | ${result.sdr.requests} |`,
);
console.log(
  `| kcat -L | metadata only | ${f(result.kcatMetadataOnly.medianSeconds)} | ${f(result.kcatMetadataOnly.peakRssMb)} | ~1 |`,
);
console.log(
  `\ntargets: < ${TARGET_SECONDS} s, < ${TARGET_RSS_MB} MB → adapter process ${result.pass ? 'PASS' : 'FAIL'}, ` +
    `through runtime + cloud (compiled, heap cap) ${result.passThroughRuntimeHeapCap ? 'PASS' : 'FAIL'}`,
);

mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'kafka.json'), `${JSON.stringify(result, null, 2)}\n`);
if (!result.pass) process.exitCode = 1;
