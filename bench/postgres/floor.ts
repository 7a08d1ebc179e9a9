/** The psql floor of the postgres benchmark: the adapter's own catalog queries, run by psql. */
import pg from 'pg';
import { crawlQueries, type CrawlScope } from '../../adapters/postgres/catalog.js';
import { parseExtractOptions } from '../../adapters/postgres/options.js';
import { SCHEMAS, SCOPE, VIEW_DEFINITIONS } from '../../adapters/postgres/queries.js';
import { benchServer } from './generate.js';

/** The adapter's queries with their parameters inlined as literals, for psql. */
export function inlineQuery(sql: string, params: unknown[]): string {
  const literal = (value: unknown): string => {
    if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return `'{${value.join(',')}}'`;
    if (Array.isArray(value))
      return value.length === 0
        ? `'{}'`
        : `ARRAY[${value.map((v) => pg.Client.prototype.escapeLiteral(String(v))).join(', ')}]`;
    if (typeof value === 'boolean') return value ? 'true' : 'false';
    return pg.Client.prototype.escapeLiteral(String(value));
  };
  return sql.replace(/\$(\d+)\b/g, (_, n: string) => literal(params[Number(n) - 1]));
}

/**
 * The adapter's queries as one psql script: every query as `COPY (...) TO STDOUT` (the per-relation
 * ones per slice of the scope, as the adapter runs them), and the view definitions as the adapter reads
 * them, 200 views per savepoint rolled back (`viewOids` in crawl order).
 */
export function psqlFloorScript(scope: CrawlScope, viewOids: number[]): string {
  const options = parseExtractOptions({}, 'bench');
  const queries = crawlQueries(options, scope);
  const statements = queries.map(({ sql, params }) => `COPY (${inlineQuery(sql, params).trim()}) TO STDOUT;`);
  const definitions: string[] = [];
  for (let i = 0; i < viewOids.length; i += 200)
    definitions.push(
      'SAVEPOINT sdr_view_definitions;',
      `COPY (${inlineQuery(VIEW_DEFINITIONS, [viewOids.slice(i, i + 200)])}) TO STDOUT;`,
      'ROLLBACK TO SAVEPOINT sdr_view_definitions;',
    );
  const afterRelations = queries.findLastIndex((query) => query.name === 'relations') + 1;
  // The same session setup as the adapter: read-only snapshot transaction, pinned search_path.
  return [
    "SET search_path = 'pg_catalog', 'public';",
    'SET jit = off;',
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;',
    ...statements.slice(0, afterRelations),
    ...definitions,
    ...statements.slice(afterRelations),
    'COMMIT;',
  ].join('\n');
}

/** The crawl's scope and its views in crawl order (prepared outside the timed floor run). */
export async function crawlScopeOf(database: string): Promise<{ scope: CrawlScope; viewOids: number[] }> {
  const client = new pg.Client({ ...benchServer, database });
  await client.connect();
  try {
    const filters = [[], [], [], [], 'catalog'];
    const { rows } = await client.query(
      `${SCOPE} SELECT ord.oid, ord.relkind IN ('v', 'm') AS view FROM ord ORDER BY ord.pos`,
      filters,
    );
    const schemas = await client.query(SCHEMAS, filters);
    const version = await client.query(`SELECT current_setting('server_version_num')::int AS v`);
    return {
      scope: {
        relations: rows.map((row: { oid: number }) => row.oid),
        schemas: schemas.rows.map((row: { oid: number }) => row.oid),
        serverVersionNum: (version.rows[0] as { v: number }).v,
      },
      viewOids: rows.filter((row: { view: boolean }) => row.view).map((row: { oid: number }) => row.oid),
    };
  } finally {
    await client.end();
  }
}
