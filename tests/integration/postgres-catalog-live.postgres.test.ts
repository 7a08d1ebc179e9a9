import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresAdapter } from '../../adapters/postgres/index.js';
import type { AdapterContext, MetadataRecord, SourceConnection } from '../../adapters/types.js';
import { peers } from '../peers/endpoints.js';

// Session pinning, catalog gaps and the `visibility` option, on a database of their own.
const DB = `sdr_pg_live_${process.pid}`;
const STYLED_ROLE = `sdr_pg_styled_${process.pid}`;
const GRANTED_ROLE = `sdr_pg_granted_${process.pid}`;
const PASSWORD = `Pw-${process.pid}-live`;
const adapter = createPostgresAdapter();
const dbKey = `postgres://127.0.0.1:${peers.postgres.port}/${DB}`;
const key = (...parts: string[]): string => [dbKey, ...parts.map(encodeURIComponent)].join('/');

const FIXTURE = `
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE EXTENSION citext;
CREATE SCHEMA live;
CREATE TABLE live.ev (
  id int,
  at timestamptz NOT NULL DEFAULT '2024-03-10 12:00:00+00',
  gap interval DEFAULT '1 day 02:03:04',
  ratio float8 DEFAULT '0.3333333333333333'::float8,
  blob bytea DEFAULT '\\x0102',
  day date DEFAULT '2024-03-10'
) PARTITION BY RANGE (at);
CREATE TABLE live.ev_2024 PARTITION OF live.ev FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');
CREATE AGGREGATE live.total(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0');
CREATE FUNCTION live.rn() RETURNS bigint LANGUAGE internal WINDOW IMMUTABLE AS 'window_row_number';
CREATE TABLE live.ext_owned (x int);
CREATE VIEW live.ext_view AS SELECT 1 AS one;
CREATE SCHEMA ext_schema;
CREATE TABLE ext_schema.inside (x int);
ALTER EXTENSION citext ADD TABLE live.ext_owned;
ALTER EXTENSION citext ADD VIEW live.ext_view;
ALTER EXTENSION citext ADD SCHEMA ext_schema;
CREATE TABLE live.base (a int CONSTRAINT a_pos CHECK (a > 0));
CREATE TABLE live.kid () INHERITS (live.base);
CREATE TABLE live.parted (a int CONSTRAINT p_pos CHECK (a > 0)) PARTITION BY LIST (a);
CREATE TABLE live.parted_1 PARTITION OF live.parted FOR VALUES IN (1);
CREATE INDEX parted_a ON live.parted (a);
INSERT INTO live.parted VALUES (1);
ANALYZE live.parted;
CREATE POLICY positive ON live.base USING (a > 0);
COMMENT ON POLICY positive ON live.base IS 'Only positive rows';
CREATE DOMAIN live.pos AS int CONSTRAINT pos_check CHECK (VALUE > 0);
COMMENT ON CONSTRAINT pos_check ON DOMAIN live.pos IS 'Must be positive';
CREATE TRIGGER no_dupes BEFORE UPDATE ON live.base FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE TABLE live.names (n text COLLATE "C", p text COLLATE "POSIX", plain text);
CREATE SCHEMA granted_s;
CREATE TABLE granted_s.seen (x int);
CREATE TABLE granted_s.unseen (x int);
CREATE SEQUENCE granted_s.counter;
CREATE SCHEMA hidden;
CREATE TABLE hidden.secret (x int);
GRANT USAGE ON SCHEMA granted_s TO ${GRANTED_ROLE};
GRANT SELECT ON granted_s.seen TO ${GRANTED_ROLE};
`;

async function withAdmin<T>(database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...peers.postgres, database });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function connection(user = peers.postgres.user, password = peers.postgres.password): SourceConnection {
  return {
    name: 'pg-live',
    type: 'postgres',
    host: peers.postgres.host,
    port: peers.postgres.port,
    database: DB,
    options: {},
    credentials: { user, password },
  };
}

async function extractAll(
  options: Record<string, unknown> = {},
  conn = connection(),
): Promise<{ records: MetadataRecord[]; warnings: string[] }> {
  const warnings: string[] = [];
  const context: AdapterContext = {
    signal: new AbortController().signal,
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined },
    warn: (message) => warnings.push(message),
  };
  const records: MetadataRecord[] = [];
  for await (const record of adapter.extract(conn, adapter.parseOptions(options, conn.name), context))
    records.push(record);
  return { records, warnings };
}

let records: MetadataRecord[];
let byKey: Map<string, MetadataRecord>;
const get = (k: string): MetadataRecord => {
  const record = byKey.get(k);
  if (!record) throw new Error(`no record ${k}`);
  return record;
};

beforeAll(async () => {
  await withAdmin('postgres', async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${DB}"`);
    for (const role of [STYLED_ROLE, GRANTED_ROLE]) {
      await client.query(`DROP ROLE IF EXISTS ${role}`);
      await client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD}'`);
    }
    // Every output style a role may carry that changes how defaults and bounds are deparsed.
    await client.query(
      `ALTER ROLE ${STYLED_ROLE} SET TimeZone = 'America/New_York';
       ALTER ROLE ${STYLED_ROLE} SET DateStyle = 'SQL, DMY';
       ALTER ROLE ${STYLED_ROLE} SET IntervalStyle = 'sql_standard';
       ALTER ROLE ${STYLED_ROLE} SET extra_float_digits = -3;
       ALTER ROLE ${STYLED_ROLE} SET bytea_output = 'escape'`,
    );
  });
  await withAdmin(DB, (client) => client.query(FIXTURE));
  const crawl = await extractAll();
  expect(crawl.warnings).toEqual([]);
  records = crawl.records;
  byKey = new Map(records.map((record) => [record.key, record]));
});

afterAll(async () => {
  await withAdmin('postgres', async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
    for (const role of [STYLED_ROLE, GRANTED_ROLE]) await client.query(`DROP ROLE IF EXISTS ${role}`);
  });
});

describe('postgres adapter: session settings are pinned', () => {
  it('reads partition bounds and defaults in UTC/ISO whatever the role has set', async () => {
    expect(get(key('live', 'ev_2024')).partitionBound).toBe(
      "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00')",
    );
    const col = (name: string): unknown => get(key('live', 'ev', name)).default;
    expect(col('at')).toBe("'2024-03-10 12:00:00+00'::timestamp with time zone");
    expect(col('gap')).toBe("'1 day 02:03:04'::interval");
    expect(col('ratio')).toBe("'0.3333333333333333'::double precision");
    expect(col('blob')).toBe("'\\x0102'::bytea");
    expect(col('day')).toBe("'2024-03-10'::date");

    const styled = await extractAll({ schemas: { include: ['live'] } }, connection(STYLED_ROLE, PASSWORD));
    const live = (list: MetadataRecord[]): MetadataRecord[] =>
      list.filter((r) => r.key.startsWith(key('live')));
    expect(live(styled.records).length).toBeGreaterThan(10);
    expect(live(styled.records)).toEqual(live(records));
  });
});

describe('postgres adapter: catalog coverage', () => {
  it('extracts aggregates and window functions', () => {
    expect(get(`${key('live')}/@function/${encodeURIComponent('total(integer)')}`)).toMatchObject({
      functionKind: 'aggregate',
      returnType: 'integer',
    });
    expect(get(`${key('live')}/@function/rn()`)).toMatchObject({
      functionKind: 'window',
      language: 'internal',
    });
  });

  it('skips extension members of every kind: schemas, tables, views and what hangs off them', () => {
    expect(byKey.has(key('live', 'ext_owned'))).toBe(false);
    expect(byKey.has(key('live', 'ext_view'))).toBe(false);
    expect(byKey.has(key('ext_schema'))).toBe(false);
    expect(records.some((r) => r.key.startsWith(`${key('live', 'ext_owned')}/`))).toBe(false);
    expect(records.some((r) => r.key.startsWith(`${key('ext_schema')}/`))).toBe(false);
    expect(get(key('live')).tableCount).toBe(5);
  });

  it('marks CHECK constraints copied to inheritance children and partitions as inherited', () => {
    expect(get(`${key('live', 'base')}/@constraint/a_pos`)).toMatchObject({ inherited: false });
    expect(get(`${key('live', 'kid')}/@constraint/a_pos`)).toMatchObject({ inherited: true });
    expect(get(`${key('live', 'parted')}/@constraint/p_pos`)).toMatchObject({ inherited: false });
    expect(get(`${key('live', 'parted_1')}/@constraint/p_pos`)).toMatchObject({ inherited: true });
  });

  it('never reports a negative size for a partitioned table ANALYZE has seen', () => {
    expect(get(key('live', 'parted'))).toMatchObject({ tableKind: 'partitioned table', sizeBytes: 0 });
    expect(get(`${key('live', 'parted')}/@index/parted_a`).sizeBytes).toBe(0);
    for (const record of records)
      if (typeof record.sizeBytes === 'number')
        expect(record.sizeBytes, record.key).toBeGreaterThanOrEqual(0);
  });

  it('carries comments on policies and on domain constraints', () => {
    expect(get(`${key('live', 'base')}/@policy/positive`)).toMatchObject({ comment: 'Only positive rows' });
    expect(get(`${key('live')}/@type/pos`)).toMatchObject({
      checks: [{ name: 'pos_check', expression: 'CHECK ((VALUE > 0))', comment: 'Must be positive' }],
    });
  });

  it('never points a trigger at a function record the crawl does not emit', () => {
    const trigger = get(`${key('live', 'base')}/@trigger/no_dupes`);
    expect(trigger).toMatchObject({
      function: null,
      functionSignature: 'pg_catalog.suppress_redundant_updates_trigger()',
    });
    const functionKeys = new Set(records.filter((r) => r.kind === 'function').map((r) => r.key));
    for (const t of records.filter((r) => r.kind === 'trigger'))
      if (t.function !== null) expect(functionKeys, t.key).toContain(t.function);
  });

  it('names collations as psql shows them, unquoted', () => {
    expect(get(key('live', 'names', 'n')).collation).toBe('C');
    expect(get(key('live', 'names', 'p')).collation).toBe('POSIX');
    expect(get(key('live', 'names', 'plain')).collation).toBeNull();
  });
});

describe('postgres adapter: visibility', () => {
  it('catalog (default) lists every schema whatever the role was granted', async () => {
    const { records: all } = await extractAll({}, connection(GRANTED_ROLE, PASSWORD));
    const schemas = all.filter((r) => r.kind === 'schema').map((r) => r.name);
    expect(schemas).toEqual(['granted_s', 'hidden', 'live', 'public']);
    expect(all.some((r) => r.key === key('hidden', 'secret'))).toBe(true);
  });

  it('granted lists only schemas with USAGE and relations with a privilege, as information_schema does', async () => {
    const { records: granted, warnings } = await extractAll(
      { visibility: 'granted' },
      connection(GRANTED_ROLE, PASSWORD),
    );
    expect(warnings).toEqual([]);
    expect(granted.filter((r) => r.kind === 'schema').map((r) => r.name)).toEqual(['granted_s']);
    expect(granted.filter((r) => r.kind === 'table').map((r) => r.key)).toEqual([key('granted_s', 'seen')]);
    expect(get(key('granted_s')).tableCount).toBe(2);
    expect(granted.find((r) => r.kind === 'schema')).toMatchObject({ tableCount: 1 });
    // A sequence needs a privilege of its own, as in information_schema.sequences.
    expect(granted.some((r) => r.kind === 'sequence')).toBe(false);
    // What information_schema shows the same role, for comparison.
    const client = new pg.Client({ ...peers.postgres, user: GRANTED_ROLE, password: PASSWORD, database: DB });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
      );
      expect(rows.map((row: { name: string }) => row.name)).toEqual(['granted_s.seen']);
    } finally {
      await client.end();
    }
  });

  it('rejects an unknown visibility', () => {
    expect(() => adapter.parseOptions({ visibility: 'everything' }, 'c')).toThrow(/visibility/);
  });
});
