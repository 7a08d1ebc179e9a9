/**
 * The postgres benchmark: builds the synthetic catalog (bench/postgres/generate.ts), then extracts it
 * with sdr, with the psql floor (the adapter's own catalog queries as `COPY (...) TO STDOUT`), and with
 * DataHub's postgres source (file sink) when it is installed; prints a table and writes
 * bench/results/postgres.json.
 *
 *   npm run bench:postgres -- [--tables 10000,50000] [--reuse] [--keep] [--skip-datahub] [--datahub-max-tables N]
 *                             [--database-prefix sdr_pg_bench_]
 *
 * DataHub is looked up as `$SDR_BENCH_DATAHUB` or `datahub` on PATH (install it in a virtualenv:
 * `python3 -m venv /tmp/dh && /tmp/dh/bin/pip install 'acryl-datahub[postgres]'`, then
 * `SDR_BENCH_DATAHUB=/tmp/dh/bin/datahub`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { imageNodeFlags } from '../../scripts/image-node-flags.js';
import { measureExtraction } from '../harness.js';
import { crawlScopeOf, psqlFloorScript } from './floor.js';
import { benchServer, dropCatalog, generateCatalog, type GeneratedCatalog } from './generate.js';
import { measure } from './measure.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One tool's extraction of one catalog. */
interface Measurement {
  tool: string;
  wallSeconds: number | null;
  peakRssMb: number | null;
  objects: number | null;
  objectsPerSecond: number | null;
  note?: string;
}

interface CatalogResult {
  measuredAt: string;
  catalog: GeneratedCatalog;
  measurements: Measurement[];
  ratios: Record<string, number | null>;
}

async function databaseExists(database: string): Promise<boolean> {
  const client = new pg.Client({ ...benchServer, database: 'postgres' });
  await client.connect();
  try {
    const result = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    return result.rowCount === 1;
  } finally {
    await client.end();
  }
}

async function countCatalog(database: string): Promise<GeneratedCatalog> {
  const client = new pg.Client({ ...benchServer, database });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'bench_s%' AND c.relkind = 'r')::int AS tables,
      (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'bench_s%' AND c.relkind = 'r' AND a.attnum > 0)::int AS columns,
      (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'bench_s%' AND c.relkind = 'v')::int AS views,
      (SELECT count(*) FROM pg_class c WHERE c.relkind = 'p')::int AS partitioned,
      (SELECT count(*) FROM pg_class c WHERE c.relispartition AND c.relkind = 'r')::int AS partitions,
      (SELECT count(*) FROM pg_constraint WHERE contype = 'f')::int AS fks,
      (SELECT count(*) FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'bench_%')::int AS indexes`);
    const r = rows[0] as Record<string, number>;
    return {
      database,
      tables: r.tables!,
      columns: r.columns!,
      views: r.views!,
      partitionedTables: r.partitioned!,
      partitions: r.partitions!,
      foreignKeys: r.fks!,
      indexes: r.indexes!,
    };
  } finally {
    await client.end();
  }
}

async function measureSdr(database: string): Promise<Measurement> {
  const tsx = join(root, 'node_modules', '.bin', 'tsx');
  const run = await measure(tsx, [join(root, 'bench', 'postgres', 'extract-child.ts'), database]);
  if (run.exitCode !== 0) throw new Error(`sdr extraction failed: ${run.stderr}`);
  const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
    records: number;
    wallMs: number;
    bytes: number;
    peakHeapMb: number;
  };
  return {
    tool: 'sdr adapter (own process)',
    wallSeconds: run.wallSeconds,
    peakRssMb: run.peakRssMb,
    objects: result.records,
    objectsPerSecond: result.records / run.wallSeconds,
    note: `extraction ${(result.wallMs / 1000).toFixed(2)} s of it (rest is process start); ${(result.bytes / 1e6).toFixed(0)} MB of JSON; peak heap ${result.peakHeapMb.toFixed(0)} MB`,
  };
}

/** The full path: reference cloud submits a signed job, the runtime process extracts and streams it back. */
async function measureThroughRuntime(database: string): Promise<Measurement> {
  // The node flags of the image (Dockerfile); SDR_BENCH_NODE_ARGS replaces its entrypoint's, to compare.
  const image = imageNodeFlags();
  const nodeArgs =
    process.env.SDR_BENCH_NODE_ARGS === undefined
      ? image.nodeArgs
      : process.env.SDR_BENCH_NODE_ARGS.split(' ').filter(Boolean);
  const result = await measureExtraction({
    connectionsYaml: [
      'connections:',
      '  - name: bench-pg',
      '    type: postgres',
      `    host: ${benchServer.host}`,
      `    port: ${benchServer.port}`,
      `    database: ${database}`,
      '    secrets: { user: env://SDR_BENCH_PG_USER, password: env://SDR_BENCH_PG_PASSWORD }',
      '    options: { sslmode: disable }',
      '',
    ].join('\n'),
    connection: 'bench-pg',
    runtimeEnv: {
      SDR_BENCH_PG_USER: benchServer.user,
      SDR_BENCH_PG_PASSWORD: benchServer.password,
      NODE_OPTIONS: image.nodeOptions,
    },
    // The compiled build, as the container image runs it (no tsx loader in the measured process).
    compiled: { nodeOptions: nodeArgs },
  });
  return {
    tool: 'sdr through runtime + reference cloud',
    wallSeconds: result.wallSeconds,
    peakRssMb: result.runtimePeakRssMb,
    objects: result.records,
    objectsPerSecond: result.objectsPerSecond,
    note: `job submitted to committed; compiled runtime, NODE_OPTIONS=${image.nodeOptions}, node ${nodeArgs.join(' ')}; RSS is the runtime process; runtime CPU ${result.runtimeCpuSeconds.toFixed(1)} s; ${result.batches} batches, ${(result.bytes / 1e6).toFixed(0)} MB; result sha256 ${result.sha256}`,
  };
}

async function measurePsqlFloor(database: string, objects: number): Promise<Measurement> {
  const script = join(tmpdir(), `sdr-bench-floor-${process.pid}.sql`);
  const { scope, viewOids } = await crawlScopeOf(database);
  writeFileSync(script, psqlFloorScript(scope, viewOids));
  try {
    const run = await measure(
      'psql',
      [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        benchServer.host,
        '-p',
        String(benchServer.port),
        '-U',
        benchServer.user,
        '-d',
        database,
        '-f',
        script,
      ],
      { env: { ...process.env, PGPASSWORD: benchServer.password }, discardStdout: true },
    );
    if (run.exitCode !== 0) throw new Error(`psql floor failed: ${run.stderr}`);
    return {
      tool: 'psql floor (same queries, COPY TO STDOUT)',
      wallSeconds: run.wallSeconds,
      peakRssMb: run.peakRssMb,
      objects,
      objectsPerSecond: objects / run.wallSeconds,
    };
  } finally {
    rmSync(script, { force: true });
  }
}

function findDatahub(): string | undefined {
  const configured = process.env.SDR_BENCH_DATAHUB;
  if (configured) return existsSync(configured) ? configured : undefined;
  try {
    return execFileSync('sh', ['-c', 'command -v datahub'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function measureDatahub(database: string): Promise<Measurement> {
  const datahub = findDatahub();
  const tool = 'DataHub postgres source (file sink)';
  if (!datahub)
    return {
      tool,
      wallSeconds: null,
      peakRssMb: null,
      objects: null,
      objectsPerSecond: null,
      note: 'not installed: set SDR_BENCH_DATAHUB to the datahub CLI of a venv with acryl-datahub[postgres]',
    };
  const work = join(tmpdir(), `sdr-bench-datahub-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const output = join(work, 'datahub-mces.json');
  const recipe = join(work, 'recipe.yml');
  writeFileSync(
    recipe,
    [
      'source:',
      '  type: postgres',
      '  config:',
      `    host_port: ${benchServer.host}:${benchServer.port}`,
      `    database: ${database}`,
      `    username: ${benchServer.user}`,
      `    password: ${benchServer.password}`,
      '    include_tables: true',
      '    include_views: true',
      '    profiling:',
      '      enabled: false',
      'sink:',
      '  type: file',
      '  config:',
      `    filename: ${output}`,
      '',
    ].join('\n'),
  );
  try {
    const run = await measure(datahub, ['ingest', '-c', recipe], {
      env: { ...process.env, DATAHUB_TELEMETRY_ENABLED: 'false', DATAHUB_SUPPRESS_LOGGING_MANAGER: '1' },
      discardStdout: true,
    });
    if (run.exitCode !== 0 || !existsSync(output))
      return {
        tool,
        wallSeconds: null,
        peakRssMb: null,
        objects: null,
        objectsPerSecond: null,
        note: `failed (exit ${run.exitCode}): ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`,
      };
    // Work units written to the file sink: one per aspect (MCP/MCE) DataHub emits.
    const events = (JSON.parse(readFileSync(output, 'utf8')) as unknown[]).length;
    return {
      tool,
      wallSeconds: run.wallSeconds,
      peakRssMb: run.peakRssMb,
      objects: events,
      objectsPerSecond: events / run.wallSeconds,
      note: `objects = metadata events in its file sink (${(statSync(output).size / 1e6).toFixed(0)} MB)`,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a && b ? Number((a / b).toFixed(2)) : null;
}

function printTable(result: CatalogResult): void {
  const { catalog } = result;
  console.log(
    `\n${catalog.database}: ${catalog.tables} tables, ${catalog.columns} columns, ${catalog.views} views, ` +
      `${catalog.partitionedTables} partitioned tables x 20 partitions, ${catalog.foreignKeys} foreign keys, ${catalog.indexes} indexes`,
  );
  console.log('| tool | wall s | peak RSS MB | objects | objects/s | note |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const m of result.measurements)
    console.log(
      `| ${m.tool} | ${m.wallSeconds?.toFixed(2) ?? '—'} | ${m.peakRssMb?.toFixed(0) ?? '—'} | ${m.objects ?? '—'} | ${m.objectsPerSecond?.toFixed(0) ?? '—'} | ${m.note ?? ''} |`,
    );
  console.log(`ratios: ${JSON.stringify(result.ratios)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tables: { type: 'string', default: '10000' },
      reuse: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'skip-datahub': { type: 'boolean', default: false },
      // Another name for the catalog databases, so parallel work on one server does not share them.
      'database-prefix': { type: 'string', default: 'sdr_pg_bench_' },
      // DataHub takes roughly a minute per thousand tables here; above this size it is not run.
      'datahub-max-tables': { type: 'string', default: '10000' },
    },
  });
  const out = join(root, 'bench', 'results', 'postgres.json');
  let previous: { measuredAt?: string; results: CatalogResult[] };
  try {
    previous = JSON.parse(readFileSync(out, 'utf8')) as { measuredAt?: string; results: CatalogResult[] };
  } catch {
    previous = { results: [] };
  }
  const results: CatalogResult[] = [];
  for (const tables of values.tables.split(',').map(Number)) {
    const database = `${values['database-prefix']}${tables >= 1000 ? `${tables / 1000}k` : tables}`;
    const catalog =
      values.reuse && (await databaseExists(database))
        ? await countCatalog(database)
        : await generateCatalog(database, tables);
    try {
      const runtime = await measureThroughRuntime(database);
      const sdr = await measureSdr(database);
      const floor = await measurePsqlFloor(database, sdr.objects ?? 0);
      const skipDatahub = values['skip-datahub'] || tables > Number(values['datahub-max-tables']);
      const datahub = skipDatahub
        ? {
            tool: 'DataHub postgres source (file sink)',
            wallSeconds: null,
            peakRssMb: null,
            objects: null,
            objectsPerSecond: null,
            note: values['skip-datahub']
              ? 'skipped (--skip-datahub)'
              : `not run above --datahub-max-tables ${values['datahub-max-tables']} (about a minute per thousand tables)`,
          }
        : await measureDatahub(database);
      // DataHub takes a quarter of an hour at 10k tables: a run that skips it keeps the last measurement.
      const earlierResult = previous.results.find((r) => r.catalog.database === database);
      const earlier = earlierResult?.measurements.find(
        (m) => m.tool === datahub.tool && m.wallSeconds !== null,
      );
      if (skipDatahub && earlier)
        Object.assign(datahub, earlier, {
          note: `${earlier.note?.replace(/ \(from an earlier run.*$/, '') ?? ''} (from an earlier run of this bench at ${earlierResult?.measuredAt ?? previous.measuredAt ?? '?'})`,
        });
      const result: CatalogResult = {
        measuredAt: new Date().toISOString(),
        catalog,
        measurements: [runtime, sdr, floor, datahub],
        ratios: {
          'datahub wall / sdr-through-runtime wall (target >= 20)': ratio(
            datahub.wallSeconds,
            runtime.wallSeconds,
          ),
          'sdr-through-runtime wall / psql floor wall (target <= 3)': ratio(
            runtime.wallSeconds,
            floor.wallSeconds,
          ),
          'sdr adapter process wall / psql floor wall': ratio(sdr.wallSeconds, floor.wallSeconds),
        },
      };
      printTable(result);
      results.push(result);
    } finally {
      if (!values.keep) await dropCatalog(database);
    }
  }
  mkdirSync(dirname(out), { recursive: true });
  // Keep earlier results for other catalog sizes: the 10k and 50k runs are usually separate invocations.
  const measured = new Set(results.map((r) => r.catalog.database));
  const merged = [...previous.results.filter((r) => !measured.has(r.catalog.database)), ...results].sort(
    (a, b) => a.catalog.tables - b.catalog.tables,
  );
  writeFileSync(
    out,
    `${JSON.stringify({ measuredAt: new Date().toISOString(), host: { cpus: 2 }, results: merged }, null, 2)}\n`,
  );
  console.log(`\nwrote ${out}`);
}

await main();
