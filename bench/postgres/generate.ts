/**
 * Builds a synthetic catalog in the local PostgreSQL for the postgres benchmark:
 * `tables` plain tables of 20 columns (primary key, a foreign key to the previous table, an index on it),
 * `tables / 5` views joining two tables, and `tables / 50` range-partitioned tables of 20 partitions.
 * At the default 10,000 tables: 10,000 tables, 200,000 of their columns, 2,000 views, 10,000 foreign
 * keys, 20,000 indexes, 200 partitioned tables and 4,000 partitions.
 *
 *   tsx bench/postgres/generate.ts [--tables 10000] [--database sdr_pg_bench_10k] [--drop]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';

/** Connection of the local test server (same overrides as the test suite). */
export const benchServer = {
  host: process.env.SDR_TEST_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.SDR_TEST_PG_PORT ?? '5432'),
  user: process.env.SDR_TEST_PG_USER ?? 'postgres',
  password: process.env.SDR_TEST_PG_PASSWORD ?? 'postgres',
};

const TABLES_PER_SCHEMA = 200;
const PARTITIONS = 20;
const columnTypes = [
  'integer',
  'text',
  'numeric(12,2)',
  'timestamp with time zone',
  'boolean',
  'varchar(64)',
  'jsonb',
];

/** What the generator built, for the benchmark report. */
export interface GeneratedCatalog {
  database: string;
  tables: number;
  columns: number;
  views: number;
  partitionedTables: number;
  partitions: number;
  foreignKeys: number;
  indexes: number;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function tableSql(i: number): string {
  const schema = `bench_s${pad(Math.floor(i / TABLES_PER_SCHEMA), 3)}`;
  const name = `t${pad(i, 6)}`;
  const columns = ['id bigint PRIMARY KEY', 'ref_id bigint'];
  for (let c = 3; c <= 20; c += 1) {
    const type = columnTypes[(i + c) % columnTypes.length]!;
    const notNull = c % 4 === 0 ? ' NOT NULL' : '';
    const dflt = c % 6 === 0 && type === 'integer' ? ' DEFAULT 0' : '';
    columns.push(`c${pad(c, 2)} ${type}${notNull}${dflt}`);
  }
  const statements = [`CREATE TABLE ${schema}.${name} (${columns.join(', ')})`];
  const previous = i % TABLES_PER_SCHEMA === 0 ? undefined : `${schema}.t${pad(i - 1, 6)}`;
  if (previous)
    statements.push(`ALTER TABLE ${schema}.${name} ADD FOREIGN KEY (ref_id) REFERENCES ${previous} (id)`);
  else
    statements.push(
      `ALTER TABLE ${schema}.${name} ADD CONSTRAINT ${name}_self FOREIGN KEY (ref_id) REFERENCES ${schema}.${name} (id)`,
    );
  statements.push(`CREATE INDEX ON ${schema}.${name} (ref_id)`);
  if (i % 10 === 0) statements.push(`COMMENT ON TABLE ${schema}.${name} IS 'synthetic table ${i}'`);
  if (i % 10 === 1) statements.push(`COMMENT ON COLUMN ${schema}.${name}.c03 IS 'synthetic column'`);
  return statements.join(';\n');
}

function viewSql(v: number, tables: number): string {
  const a = (v * 5) % tables;
  const b =
    a + 1 < tables && Math.floor((a + 1) / TABLES_PER_SCHEMA) === Math.floor(a / TABLES_PER_SCHEMA)
      ? a + 1
      : a;
  const schema = `bench_s${pad(Math.floor(a / TABLES_PER_SCHEMA), 3)}`;
  return `CREATE VIEW ${schema}.v${pad(v, 6)} AS SELECT x.id, x.c03, y.c04 FROM ${schema}.t${pad(a, 6)} x JOIN ${schema}.t${pad(b, 6)} y ON y.ref_id = x.id`;
}

function partitionedSql(p: number): string {
  const name = `bench_parts.p${pad(p, 4)}`;
  const statements = [
    `CREATE TABLE ${name} (id bigint NOT NULL, at date NOT NULL, label text, amount numeric(12,2), payload jsonb, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`,
  ];
  for (let k = 0; k < PARTITIONS; k += 1) {
    const from = new Date(Date.UTC(2020, k, 1)).toISOString().slice(0, 10);
    const to = new Date(Date.UTC(2020, k + 1, 1)).toISOString().slice(0, 10);
    statements.push(
      `CREATE TABLE ${name}_${pad(k, 2)} PARTITION OF ${name} FOR VALUES FROM ('${from}') TO ('${to}')`,
    );
  }
  return statements.join(';\n');
}

/** Creates (or recreates) the benchmark database; returns what it holds. */
export async function generateCatalog(
  database: string,
  tables: number,
  log = console.log,
): Promise<GeneratedCatalog> {
  const admin = new pg.Client({ ...benchServer, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  const client = new pg.Client({ ...benchServer, database });
  await client.connect();
  const started = Date.now();
  try {
    const schemas = Math.ceil(tables / TABLES_PER_SCHEMA);
    const views = Math.floor(tables / 5);
    const partitioned = Math.floor(tables / 50);
    await client.query(
      [
        ...Array.from({ length: schemas }, (_, s) => `CREATE SCHEMA bench_s${pad(s, 3)}`),
        'CREATE SCHEMA bench_parts',
      ].join(';\n'),
    );
    // Batches of DDL in one transaction each: fast, and well under max_locks_per_transaction.
    const batch = async (count: number, make: (i: number) => string, label: string): Promise<void> => {
      const size = 200;
      for (let i = 0; i < count; i += size) {
        const parts: string[] = [];
        for (let j = i; j < Math.min(count, i + size); j += 1) parts.push(make(j));
        await client.query(`BEGIN;\n${parts.join(';\n')};\nCOMMIT`);
        if ((i / size) % 10 === 0) log(`  ${label}: ${Math.min(count, i + size)}/${count}`);
      }
    };
    await batch(tables, tableSql, 'tables');
    await batch(views, (v) => viewSql(v, tables), 'views');
    await batch(partitioned, partitionedSql, 'partitioned tables');
    await client.query('ANALYZE');
    log(`  generated ${database} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return {
      database,
      tables,
      columns: tables * 20,
      views,
      partitionedTables: partitioned,
      partitions: partitioned * PARTITIONS,
      foreignKeys: tables,
      indexes: tables * 2 + partitioned * (PARTITIONS + 1),
    };
  } finally {
    await client.end();
  }
}

/** Drops a benchmark database. */
export async function dropCatalog(database: string): Promise<void> {
  const admin = new pg.Client({ ...benchServer, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      tables: { type: 'string', default: '10000' },
      database: { type: 'string' },
      drop: { type: 'boolean', default: false },
    },
  });
  const tables = Number(values.tables);
  const database = values.database ?? `sdr_pg_bench_${tables >= 1000 ? `${tables / 1000}k` : tables}`;
  if (values.drop) await dropCatalog(database);
  else console.log(await generateCatalog(database, tables));
}
