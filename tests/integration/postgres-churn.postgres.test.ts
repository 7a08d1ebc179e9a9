import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlDatabase } from '../../adapters/postgres/catalog.js';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import { serverKey } from '../../adapters/postgres/keys.js';
import { compileSettings } from '../../adapters/postgres/options.js';
import type { ReadOnlySession } from '../../adapters/postgres/session.js';
import { openReadOnlySession } from '../../adapters/postgres/session.js';
import type { AdapterContext, MetadataRecord, SourceConnection } from '../../adapters/types.js';
import { peers } from '../peers/endpoints.js';

// DDL churn during extraction: objects created and dropped after the crawl's snapshot must never fail
// the crawl; those the snapshot saw but the server no longer has are flagged `vanished: true`.
const DB = `sdr_pg_churn_${process.pid}`;
const adapter = createPostgresAdapter();
const server = `postgres://127.0.0.1:${peers.postgres.port}`;
const dbKey = `${server}/${DB}`;

/** A schema with one object of every kind the adapter reads a definition of. */
function objectsIn(schema: string, n: number | string): string {
  const s = `"${schema}"`;
  return `
    CREATE TYPE ${s}.mood_${n} AS ENUM ('a', 'b');
    CREATE DOMAIN ${s}.pos_${n} AS int CONSTRAINT pos_${n}_check CHECK (VALUE > 0);
    CREATE SEQUENCE ${s}.seq_${n};
    CREATE FUNCTION ${s}.stamp_${n}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    CREATE TABLE ${s}.parent_${n} (id int PRIMARY KEY, note text DEFAULT 'x' CHECK (note <> ''));
    CREATE TABLE ${s}.t_${n} (
      id int PRIMARY KEY REFERENCES ${s}.parent_${n}(id),
      at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00',
      qty ${s}.pos_${n},
      mood ${s}.mood_${n} DEFAULT 'a',
      twice int GENERATED ALWAYS AS (id * 2) STORED,
      CONSTRAINT t_${n}_at CHECK (at > '2000-01-01')
    );
    CREATE INDEX t_${n}_recent ON ${s}.t_${n} (at) WHERE id > 10;
    CREATE TRIGGER t_${n}_stamp BEFORE INSERT ON ${s}.t_${n} FOR EACH ROW EXECUTE FUNCTION ${s}.stamp_${n}();
    CREATE POLICY t_${n}_own ON ${s}.t_${n} USING (id > 0);
    CREATE TABLE ${s}.p_${n} (id int, at date NOT NULL) PARTITION BY RANGE (at);
    CREATE TABLE ${s}.p_${n}_2024 PARTITION OF ${s}.p_${n} FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE VIEW ${s}.v_${n} AS SELECT id, at FROM ${s}.t_${n} WHERE id > 1;
    CREATE MATERIALIZED VIEW ${s}.m_${n} AS SELECT count(*) AS n FROM ${s}.t_${n};`;
}

async function withAdmin<T>(database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...peers.postgres, database });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function connection(): SourceConnection {
  return {
    name: 'pg-churn',
    type: 'postgres',
    host: peers.postgres.host,
    port: peers.postgres.port,
    database: DB,
    options: {},
    credentials: { user: peers.postgres.user, password: peers.postgres.password },
  };
}

function context(): AdapterContext & { warnings: string[] } {
  const warnings: string[] = [];
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined };
  return { signal: new AbortController().signal, log, warn: (message) => warnings.push(message), warnings };
}

async function crawl(
  ctx = context(),
  afterFirst?: () => Promise<void>,
): Promise<{ records: MetadataRecord[]; warnings: string[] }> {
  const conn = connection();
  const records: MetadataRecord[] = [];
  for await (const record of adapter.extract(conn, adapter.parseOptions({}, conn.name), ctx)) {
    records.push(record);
    // The snapshot is taken by the first query: what is dropped now is seen by the crawl but gone.
    if (records.length === 1 && afterFirst) await afterFirst();
  }
  return { records, warnings: ctx.warnings };
}

const inSchema = (schema: string) => (record: MetadataRecord) =>
  record.key.startsWith(`${dbKey}/${schema}/`) || record.key === `${dbKey}/${schema}`;

/** The records of the stable part, without the figures churn legitimately changes. */
function stable(records: MetadataRecord[]): MetadataRecord[] {
  return records
    .filter((record) => record.key.startsWith(`${dbKey}/stable`) || record.key.startsWith(`${dbKey}/@`))
    .concat(records.filter((r) => r.kind === 'database').map((r) => ({ ...r, sizeBytes: 0 })));
}

let quiet: MetadataRecord[];

beforeAll(async () => {
  await withAdmin('postgres', async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${DB}"`);
  });
  await withAdmin(DB, async (client) => {
    await client.query(`CREATE SCHEMA stable; CREATE SCHEMA churn; ${objectsIn('stable', 'keep')}`);
    // Deparsing wide's generated expression against narrow raises XX000 on the server ("invalid attnum"),
    // the SQLSTATE of a deparser whose object was dropped while it ran.
    await client.query(
      'CREATE SCHEMA probe; CREATE TABLE probe.wide (a int, b int, c int GENERATED ALWAYS AS (b * 2) STORED); CREATE TABLE probe.narrow (x int)',
    );
    await client.query('ANALYZE');
  });
  const first = await crawl();
  expect(first.warnings).toEqual([]);
  quiet = first.records;
});

afterAll(async () => {
  await withAdmin('postgres', (client) => client.query(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`));
});

describe('postgres adapter under concurrent DDL', () => {
  it('flags objects dropped after the snapshot as vanished, with one summary warning', async () => {
    await withAdmin(DB, (client) => client.query(`CREATE SCHEMA doomed; ${objectsIn('doomed', 1)}`));
    const { records, warnings } = await crawl(context(), () =>
      withAdmin(DB, async (client) => {
        await client.query('DROP SCHEMA doomed CASCADE');
      }),
    );
    const doomed = records.filter(inSchema('doomed'));
    const kinds = new Set(doomed.map((r) => r.kind));
    for (const kind of [
      'schema',
      'type',
      'sequence',
      'table',
      'column',
      'constraint',
      'index',
      'trigger',
      'policy',
    ])
      expect(kinds, kind).toContain(kind);
    for (const record of doomed) expect(record, record.key).toMatchObject({ vanished: true });
    // Nothing the snapshot saw is described with a silently missing definition.
    for (const record of records.filter((r) => !inSchema('doomed')(r)))
      expect(record).not.toHaveProperty('vanished');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/dropped after the crawl's snapshot.*\d+ tables?/);
    expect(stable(records)).toEqual(stable(quiet));
  });

  it('completes every crawl while objects are created and dropped continuously; the stable part is unchanged', async () => {
    let stop = false;
    let cycles = 0;
    const churner = withAdmin(DB, async (client) => {
      // Bounded: stops when the crawls are done, or after 2,000 create/drop cycles at the latest.
      for (let n = 0; !stop && n < 2000; n += 1) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS churn; ${objectsIn('churn', n)}`);
        if (n > 0) await client.query(dropIn('churn', n - 1));
        cycles += 1;
      }
    });
    const crawls: { records: MetadataRecord[]; warnings: string[] }[] = [];
    try {
      for (let i = 0; i < 6; i += 1) crawls.push(await crawl());
    } finally {
      stop = true;
      await churner;
    }
    expect(cycles).toBeGreaterThan(crawls.length);
    for (const { records, warnings } of crawls) {
      expect(stable(records)).toEqual(stable(quiet));
      for (const warning of warnings) expect(warning).toMatch(/dropped after the crawl's snapshot/);
      // A churned object is either complete or flagged; never described with silently missing parts.
      for (const record of records.filter(inSchema('churn'))) {
        if (record.vanished === true) continue;
        if (record.kind === 'index' || record.kind === 'constraint' || record.kind === 'trigger')
          expect(record.definition, record.key).toEqual(expect.any(String));
        if (
          record.kind === 'table' &&
          (record.tableKind === 'view' || record.tableKind === 'materialized view')
        )
          expect(record.definition, record.key).toEqual(expect.any(String));
        if (record.kind === 'table' && record.partitionOf !== undefined)
          expect(record.partitionBound, record.key).toEqual(expect.any(String));
        // Only t_N's `at` has a default: p_N's and v_N's `at` columns have none.
        if (record.kind === 'column' && /\/churn\/t_\d+\/at$/.test(record.key))
          expect(record.default, record.key).toEqual(expect.any(String));
      }
    }
  });
});

describe('postgres adapter: a deparser failing mid-query', () => {
  it('rolls the query back to its savepoint and runs it again, without losing or repeating a row', async () => {
    const expected = (await crawl()).records;
    const conn = connection();
    const settings = compileSettings(conn);
    const signal = new AbortController().signal;
    let injected = false;
    // Real sessions, except that the first read of the columns query fails on the server after three rows
    // (on whichever session runs it: the per-relation queries alternate with a prefetch session).
    const injecting = (real: ReadOnlySession): ReadOnlySession => ({
      database: real.database,
      query: (sql, params) => real.query(sql, params),
      async *stream(sql, params) {
        if (injected || !sql.includes('JOIN pg_attribute a ON a.attrelid = ord.oid')) {
          yield* real.stream(sql, params);
          return;
        }
        injected = true;
        let rows = 0;
        for await (const row of real.stream(sql, params)) {
          yield row;
          if (++rows === 3) break;
        }
        yield* real.stream(
          "SELECT pg_get_expr(adbin, 'probe.narrow'::regclass) FROM pg_attrdef WHERE adrelid = 'probe.wide'::regclass",
        );
      },
      close: () => real.close(),
    });
    const session = injecting(await openReadOnlySession(settings, signal));
    const warnings: string[] = [];
    const records: MetadataRecord[] = [];
    try {
      for await (const record of crawlDatabase(
        session,
        serverKey(settings.host, settings.port),
        adapter.parseOptions({}, conn.name),
        {
          openSession: async (snapshot) =>
            injecting(
              await openReadOnlySession(settings, signal, snapshot !== undefined ? { snapshot } : {}),
            ),
          warn: (message) => warnings.push(message),
        },
      ))
        records.push(record);
    } finally {
      await session.close();
    }
    expect(injected).toBe(true);
    const withoutSize = (list: MetadataRecord[]): MetadataRecord[] =>
      list.map((r) => (r.kind === 'database' ? { ...r, sizeBytes: 0 } : r));
    expect(withoutSize(records)).toEqual(withoutSize(expected));
    expect(warnings).toEqual([
      `database ${DB}: objects were dropped after the crawl's snapshot (concurrent DDL); 1 catalog query run again`,
    ]);
  });
});

function dropIn(schema: string, n: number): string {
  const s = `"${schema}"`;
  return `DROP TABLE ${s}.t_${n}, ${s}.parent_${n}, ${s}.p_${n} CASCADE;
    DROP FUNCTION ${s}.stamp_${n}(); DROP TYPE ${s}.mood_${n}; DROP DOMAIN ${s}.pos_${n}; DROP SEQUENCE ${s}.seq_${n}`;
}
