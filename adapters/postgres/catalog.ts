import { delay } from '../shared/index.js';
import type { MetadataRecord } from '../types.js';
import { childKey, columnKey, databaseKey, relationKey, schemaKey } from './keys.js';
import type { PostgresExtractOptions } from './options.js';
import * as sql from './queries.js';
import type { ReadOnlySession, Row } from './session.js';

const relationKinds: Record<string, string> = {
  r: 'table',
  p: 'partitioned table',
  f: 'foreign table',
  v: 'view',
  m: 'materialized view',
};

const fkActions: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

const fkMatch: Record<string, string> = { f: 'FULL', p: 'PARTIAL', s: 'SIMPLE' };

const constraintKinds: Record<string, string> = {
  p: 'primary key',
  u: 'unique',
  f: 'foreign key',
  c: 'check',
  x: 'exclusion',
};

const typeKinds: Record<string, string> = { e: 'enum', d: 'domain', c: 'composite' };

const triggerEnabled: Record<string, string> = {
  O: 'origin',
  D: 'disabled',
  R: 'replica',
  A: 'always',
};

function text(row: Row, column: string): string {
  return row[column] as string;
}

function nullable<T>(value: unknown): T | null {
  return value === undefined || value === null ? null : (value as T);
}

/** Parses the `json_build_*(...)::text` elements the queries use to return small nested lists. */
function jsonList<T>(value: unknown): T[] {
  return Array.isArray(value) ? value.map((item) => JSON.parse(item as string) as T) : [];
}

function triggerFacts(tgtype: number): { timing: string; level: string; events: string[] } {
  const events: string[] = [];
  if (tgtype & 4) events.push('INSERT');
  if (tgtype & 8) events.push('DELETE');
  if (tgtype & 16) events.push('UPDATE');
  if (tgtype & 32) events.push('TRUNCATE');
  const timing = tgtype & 64 ? 'INSTEAD OF' : tgtype & 2 ? 'BEFORE' : 'AFTER';
  return { timing, level: tgtype & 1 ? 'row' : 'statement', events };
}

/** What a crawl needs besides its main session. */
export interface CrawlHelpers {
  /** Opens another read-only session on the same database, importing `snapshot` when given. */
  openSession(snapshot: string | undefined): Promise<ReadOnlySession>;
  /** Reports a non-fatal problem with one object. */
  warn(message: string): void;
  /** Notes a step worth seeing in the runtime's log but not in the job's warnings (a retry). */
  note?(message: string): void;
  /** The job's abort signal: a retry's pause ends with it. */
  signal?: AbortSignal;
}

/**
 * Pauses before each re-read of a view definition that hit `statement_timeout` or `lock_timeout`:
 * DDL holding a table the view reads (a migration, a VACUUM FULL) usually ends within seconds, and a
 * definition committed as null is lost to the catalog until the next crawl (issue 13, loss path 8).
 */
export const VIEW_DEFINITION_RETRY_DELAYS_MS: readonly number[] = [500, 1_500, 4_000];

/** SQLSTATEs of a statement that ran out of time (57014) or of lock wait (55P03): worth another try. */
function timedOut(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  return cause?.code === '57014' || cause?.code === '55P03';
}

/** Plural nouns for the vanished-objects summary. */
const plurals: Record<string, string> = {
  index: 'indexes',
  'catalog query': 'catalog queries',
  policy: 'policies',
  lineage: 'lineage edges',
};

function counted(count: number, kind: string): string {
  return `${count} ${count === 1 ? kind : (plurals[kind] ?? `${kind}s`)}`;
}

/**
 * Objects the crawl's snapshot lists but the server dropped before the crawl described them
 * (concurrent DDL). They are emitted with `vanished: true` — their definitions can no longer be read —
 * or, where not even their key can be built (a function's identity arguments), skipped; the job gets
 * one summary warning per database, not one line per object.
 */
class VanishedObjects {
  private readonly flagged = new Map<string, number>();
  private readonly skipped = new Map<string, number>();
  /** Catalog queries run again because an object vanished while a deparser read it. */
  reruns = 0;

  /** The record fields for one object: `{ vanished: true }` when it vanished, else nothing. */
  flag(kind: string, vanished: boolean): { vanished?: true } {
    if (!vanished) return {};
    this.flagged.set(kind, (this.flagged.get(kind) ?? 0) + 1);
    return { vanished: true };
  }

  skip(kind: string): void {
    this.skipped.set(kind, (this.skipped.get(kind) ?? 0) + 1);
  }

  summary(database: string): string | undefined {
    if (this.flagged.size === 0 && this.skipped.size === 0 && this.reruns === 0) return undefined;
    const list = (counts: Map<string, number>): string =>
      [...counts].map(([kind, count]) => counted(count, kind)).join(', ');
    const parts = [
      ...(this.flagged.size > 0 ? [`emitted with vanished: true: ${list(this.flagged)}`] : []),
      ...(this.skipped.size > 0 ? [`skipped: ${list(this.skipped)}`] : []),
      ...(this.reruns > 0 ? [`${counted(this.reruns, 'catalog query')} run again`] : []),
    ];
    return `database ${database}: objects were dropped after the crawl's snapshot (concurrent DDL); ${parts.join('; ')}`;
  }
}

/** Retries of one catalog query whose object vanished while a deparser read it. */
const VANISHED_RETRIES = 5;

/**
 * SQLSTATE XX000 is what a deparser raises ("cache lookup failed for relation 123", "could not open
 * relation with OID 123") when its object is dropped in the instant between the query's existence test
 * and the deparse; the query is worth running again.
 */
function vanishedWhileRead(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  return cause?.code === 'XX000';
}

/**
 * Streams one catalog query inside a savepoint. When an object vanishes under a deparser, the query is
 * rolled back to the savepoint and run again, skipping the rows already yielded: under the crawl's
 * snapshot and a total ORDER BY the rows come back in the same order, and the existence tests now flag
 * the dropped object instead of deparsing it. One missing object thus costs a re-run, never the database.
 */
async function* catalogRows(
  session: ReadOnlySession,
  query: string,
  params: readonly unknown[],
  vanished: VanishedObjects,
): AsyncGenerator<Row, void, undefined> {
  let yielded = 0;
  for (let attempt = 0; ; attempt += 1) {
    await session.query('SAVEPOINT sdr_catalog_query');
    let skip = yielded;
    try {
      for await (const row of session.stream(query, params)) {
        if (skip > 0) {
          skip -= 1;
          continue;
        }
        yielded += 1;
        yield row;
      }
    } catch (error) {
      if (!vanishedWhileRead(error) || attempt >= VANISHED_RETRIES) throw error;
      await session.query('ROLLBACK TO SAVEPOINT sdr_catalog_query');
      vanished.reruns += 1;
      continue;
    }
    await session.query('RELEASE SAVEPOINT sdr_catalog_query');
    return;
  }
}

/** A view's definition, or why it has none. */
interface ViewDefinition {
  readonly definition: string | null;
  readonly vanished: boolean;
}

/** Relation rows handled together: their view definitions are fetched in one query. */
const RELATION_PAGE = 200;

/**
 * Fetches view definitions on a helper session that shares the crawl's snapshot, inside a savepoint
 * rolled back after each page: pg_get_viewdef() takes AccessShareLock on every relation a view reads
 * and would hold it to the end of the crawl, which exhausts the server's lock table at ~10,000 views.
 */
class ViewDefinitions {
  private helper: ReadOnlySession | undefined;

  constructor(
    private readonly snapshot: string | undefined,
    private readonly helpers: CrawlHelpers,
  ) {}

  async fetch(views: { oid: number; name: string }[]): Promise<Map<number, ViewDefinition>> {
    const definitions = new Map<number, ViewDefinition>();
    if (views.length === 0) return definitions;
    this.helper ??= await this.helpers.openSession(this.snapshot);
    const helper = this.helper;
    await helper.query('SAVEPOINT sdr_view_definitions');
    try {
      const rows = await helper.query(sql.VIEW_DEFINITIONS, [views.map((view) => view.oid)]);
      for (const row of rows)
        definitions.set(row.oid as number, {
          definition: nullable(row.definition),
          vanished: row.vanished === true,
        });
    } catch (error) {
      await helper.query('ROLLBACK TO SAVEPOINT sdr_view_definitions');
      // One view whose tables are locked by running DDL (lock_timeout) must not cost the others theirs.
      if (views.length > 1) {
        for (const view of views)
          for (const [oid, text] of await this.fetch([view])) definitions.set(oid, text);
      } else {
        const view = views[0]!;
        const [gone] = await helper.query(sql.RELATION_VANISHED, [view.oid]);
        const vanished = gone?.vanished === true;
        const retried = vanished || !timedOut(error) ? undefined : await this.retry(view);
        if (retried) {
          definitions.set(view.oid, retried);
        } else {
          // A view dropped after the snapshot is counted with the other vanished objects, not warned about.
          if (!vanished)
            this.helpers.warn(`view ${view.name}: definition not read: ${(error as Error).message}`);
          definitions.set(view.oid, { definition: null, vanished });
        }
      }
    } finally {
      await helper.query('ROLLBACK TO SAVEPOINT sdr_view_definitions');
    }
    return definitions;
  }

  /**
   * Reads one view's definition again after pauses, while it keeps timing out; undefined when every try
   * did (the caller then commits it as null, with a warning naming the last error).
   */
  private async retry(view: { oid: number; name: string }): Promise<ViewDefinition | undefined> {
    const helper = this.helper!;
    for (const [index, delayMs] of VIEW_DEFINITION_RETRY_DELAYS_MS.entries()) {
      this.helpers.note?.(
        `view ${view.name}: definition timed out; reading it again in ${delayMs} ms (retry ${index + 1} of ${VIEW_DEFINITION_RETRY_DELAYS_MS.length})`,
      );
      await delay(delayMs, this.helpers.signal);
      await helper.query('ROLLBACK TO SAVEPOINT sdr_view_definitions');
      try {
        const [row] = await helper.query(sql.VIEW_DEFINITIONS, [[view.oid]]);
        if (row) return { definition: nullable(row.definition), vanished: row.vanished === true };
      } catch (error) {
        if (!timedOut(error)) throw error;
      }
    }
    await helper.query('ROLLBACK TO SAVEPOINT sdr_view_definitions');
    return undefined;
  }

  async close(): Promise<void> {
    await this.helper?.close();
  }
}

/** Groups a row stream into pages of at most `size` rows (bounded memory, one page at a time). */
async function* pages(rows: AsyncIterable<Row>, size: number): AsyncGenerator<Row[], void, undefined> {
  let page: Row[] = [];
  for await (const row of rows) {
    page.push(row);
    if (page.length >= size) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

/** Exports the main session's snapshot for helper sessions; undefined where the server cannot. */
async function exportSnapshot(session: ReadOnlySession): Promise<string | undefined> {
  // Not in a savepoint: PostgreSQL refuses to export a snapshot from a subtransaction. A hot standby may
  // refuse it too, so there the helpers read with a snapshot of their own.
  const [row] = await session.query(
    'SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_export_snapshot() END AS id',
  );
  return (row?.id as string | null) ?? undefined;
}

/** The parameters every scoped catalog query takes ($1..$5): filters and visibility. */
function scopeParams(options: PostgresExtractOptions): unknown[] {
  return [
    options.schemas.include,
    options.schemas.exclude,
    options.tables.include,
    options.tables.exclude,
    options.visibility,
  ];
}

/**
 * Relations per slice of the scope. Each per-relation query sorts one slice (~40,000 column rows of the
 * benchmark's 20-column tables, within the server's default work_mem) instead of the whole catalog, so
 * its first rows arrive after one slice's work, not the whole catalog's.
 */
const SLICE_RELATIONS = 2_000;

function slices(oids: readonly number[]): number[][] {
  const result: number[][] = [];
  for (let i = 0; i < oids.length; i += SLICE_RELATIONS) result.push(oids.slice(i, i + SLICE_RELATIONS));
  return result;
}

/** What the per-relation queries need besides the filters: the scope, crawled schemas, server version. */
export interface CrawlScope {
  /** OIDs of the crawled relations in emission order (SCOPE_RELATIONS). */
  readonly relations: readonly number[];
  /** OIDs of the crawled schemas. */
  readonly schemas: readonly number[];
  readonly serverVersionNum: number;
}

/** The per-relation record kinds, in emission order. */
const RELATION_KINDS = [
  'relations',
  'columns',
  'constraints',
  'indexes',
  'triggers',
  'policies',
  'lineage',
] as const;
type RelationKind = (typeof RELATION_KINDS)[number];

/** One run of one catalog query. */
interface CatalogTask {
  readonly name: string;
  readonly sql: string;
  readonly params: unknown[];
}

function relationTasks(kind: RelationKind, scope: CrawlScope): CatalogTask[] {
  const query: Record<RelationKind, string> = {
    relations: sql.RELATIONS,
    columns: sql.COLUMNS,
    constraints: sql.CONSTRAINTS,
    indexes: sql.INDEXES,
    triggers: sql.TRIGGERS,
    policies: sql.POLICIES,
    lineage: sql.VIEW_LINEAGE,
  };
  return slices(scope.relations).map((slice) => ({
    name: kind,
    sql: query[kind],
    params: kind === 'triggers' ? [slice, scope.schemas] : [slice],
  }));
}

/**
 * Every catalog query one database's crawl runs, in order, with its parameters: the benchmark's psql
 * floor runs exactly these (`scope` as the crawl computes it with SCOPE_RELATIONS and SCHEMAS).
 */
export function crawlQueries(options: PostgresExtractOptions, scope: CrawlScope): CatalogTask[] {
  const filters = scopeParams(options);
  return [
    { name: 'database', sql: sql.DATABASE, params: [] },
    { name: 'extensions', sql: sql.EXTENSIONS, params: [] },
    { name: 'schemas', sql: sql.SCHEMAS, params: filters },
    { name: 'types', sql: sql.TYPES, params: filters },
    { name: 'sequences', sql: sql.SEQUENCES, params: filters },
    { name: 'functions', sql: sql.FUNCTIONS, params: [...filters, options.includeFunctionBodies] },
    { name: 'scope', sql: sql.SCOPE_RELATIONS, params: filters },
    ...RELATION_KINDS.flatMap((kind) => relationTasks(kind, scope)),
  ];
}

/**
 * Runs catalog queries in order on up to `sessions.length` sessions that share one snapshot: while the
 * caller reads one query's rows, the next query already runs on the other session, so the server
 * produces (and sorts) the next slice while the runtime handles this one. A started query holds at most
 * its cursor's page and read-ahead until it is read, so memory stays bounded.
 */
class CatalogPipeline {
  private started = 0;
  private readonly running: {
    gen: AsyncGenerator<Row, void, undefined>;
    first: Promise<IteratorResult<Row, void>>;
  }[] = [];

  constructor(
    private readonly sessions: readonly ReadOnlySession[],
    private readonly tasks: readonly CatalogTask[],
    private readonly vanished: VanishedObjects,
  ) {}

  private fill(): void {
    // Task i runs on session i mod n: when task i is read to its end, its session is free for task i + n.
    while (this.running.length < this.sessions.length && this.started < this.tasks.length) {
      const task = this.tasks[this.started]!;
      const session = this.sessions[this.started % this.sessions.length]!;
      this.started += 1;
      const gen = catalogRows(session, task.sql, task.params, this.vanished);
      const first = gen.next();
      // Reported when the caller reaches this query, not before.
      first.catch(() => undefined);
      this.running.push({ gen, first });
    }
  }

  /** The rows of the next `count` queries, in order. */
  async *rows(count: number): AsyncGenerator<Row, void, undefined> {
    for (let i = 0; i < count; i += 1) {
      this.fill();
      const current = this.running[0];
      if (!current) return;
      for (let result = await current.first; !result.done; result = await current.gen.next())
        yield result.value;
      this.running.shift();
    }
  }

  /** Ends every query still running (after an error or an abort). */
  async close(): Promise<void> {
    for (const { gen, first } of this.running.splice(0)) {
      await first.catch(() => undefined);
      await gen.return(undefined).catch(() => undefined);
    }
  }
}

/**
 * Streams every record of the session's database, parents before children: the database, its
 * extensions, schemas, then per schema types, sequences and functions, then relations (partitions
 * after their parent), columns, constraints, indexes, triggers, policies and view lineage.
 * Each kind is one bulk query read through a cursor, so memory does not grow with the catalog.
 */
export async function* crawlDatabase(
  session: ReadOnlySession,
  server: string,
  options: PostgresExtractOptions,
  helpers: CrawlHelpers,
): AsyncGenerator<MetadataRecord, void, undefined> {
  const [database] = await session.query(sql.DATABASE);
  if (!database) return;
  const snapshot = await exportSnapshot(session);
  const viewDefinitions = new ViewDefinitions(snapshot, helpers);
  const vanished = new VanishedObjects();
  // The per-relation queries alternate between the main session and one that imports its snapshot;
  // without an exported snapshot (older standbys) they run one after the other on the main session.
  const second = snapshot === undefined ? undefined : await helpers.openSession(snapshot);
  try {
    yield* crawlRecords(session, second, server, options, database, viewDefinitions, vanished);
  } finally {
    await viewDefinitions.close();
    await second?.close();
  }
  const summary = vanished.summary(text(database, 'name'));
  if (summary !== undefined) helpers.warn(summary);
}

async function* crawlRecords(
  session: ReadOnlySession,
  second: ReadOnlySession | undefined,
  server: string,
  options: PostgresExtractOptions,
  database: Row,
  viewDefinitions: ViewDefinitions,
  vanished: VanishedObjects,
): AsyncGenerator<MetadataRecord, void, undefined> {
  const rows = (query: string, params: readonly unknown[] = scope): AsyncGenerator<Row, void, undefined> =>
    catalogRows(session, query, params, vanished);
  const scope = scopeParams(options);
  const db = databaseKey(server, text(database, 'name'));
  const rel = (schema: string, name: string): string => relationKey(db, schema, name);
  const typeKey = (schema: string, name: string): string => childKey(schemaKey(db, schema), 'type', name);

  yield {
    kind: 'database',
    key: db,
    name: database.name,
    owner: database.owner,
    encoding: database.encoding,
    collation: database.collation,
    ctype: database.ctype,
    sizeBytes: nullable(database.size_bytes),
    comment: nullable(database.comment),
    serverVersion: database.server_version,
    serverVersionNum: database.server_version_num,
  };

  for await (const row of rows(sql.EXTENSIONS, [])) {
    yield {
      kind: 'extension',
      key: childKey(db, 'extension', text(row, 'name')),
      parent: db,
      name: row.name,
      version: row.version,
      schema: row.schema,
      relocatable: row.relocatable,
      comment: nullable(row.comment),
    };
  }

  const schemaOids: number[] = [];
  for await (const row of rows(sql.SCHEMAS)) {
    schemaOids.push(row.oid as number);
    yield {
      kind: 'schema',
      key: schemaKey(db, text(row, 'name')),
      parent: db,
      name: row.name,
      owner: row.owner,
      comment: nullable(row.comment),
      tableCount: row.table_count,
      viewCount: row.view_count,
      ...vanished.flag('schema', row.vanished === true),
    };
  }

  for await (const row of rows(sql.TYPES)) {
    const typeKind = typeKinds[text(row, 'type_kind')] ?? 'composite';
    yield {
      kind: 'type',
      key: typeKey(text(row, 'schema'), text(row, 'name')),
      parent: schemaKey(db, text(row, 'schema')),
      schema: row.schema,
      name: row.name,
      typeKind,
      owner: row.owner,
      comment: nullable(row.comment),
      ...(typeKind === 'enum' ? { labels: row.labels } : {}),
      ...(typeKind === 'domain'
        ? {
            baseType: row.base_type,
            notNull: row.not_null,
            default: nullable(row.default_value),
            collation: nullable(row.collation),
            checks: jsonList(row.checks),
          }
        : {}),
      ...(typeKind === 'composite' ? { attributes: jsonList(row.attributes) } : {}),
      ...vanished.flag('type', row.vanished === true),
    };
  }

  for await (const row of rows(sql.SEQUENCES)) {
    const schema = schemaKey(db, text(row, 'schema'));
    yield {
      kind: 'sequence',
      key: childKey(schema, 'sequence', text(row, 'name')),
      parent: schema,
      schema: row.schema,
      name: row.name,
      owner: row.owner,
      comment: nullable(row.comment),
      dataType: row.data_type,
      // int8 values travel as strings: a sequence's bounds exceed JavaScript's safe integers.
      start: row.start,
      increment: row.increment,
      min: row.min,
      max: row.max,
      cache: row.cache,
      cycle: row.cycle,
      ownedBy:
        row.owned_by_column === null
          ? null
          : columnKey(
              rel(text(row, 'owned_by_schema'), text(row, 'owned_by_table')),
              text(row, 'owned_by_column'),
            ),
      identity: row.identity === true,
      ...vanished.flag('sequence', row.vanished === true),
    };
  }

  for await (const row of rows(sql.FUNCTIONS, [...scope, options.includeFunctionBodies])) {
    // Without its identity arguments (read from the current catalog) a dropped function has no key.
    if (row.vanished === true || row.identity_arguments === null) {
      vanished.skip('function');
      continue;
    }
    const schema = schemaKey(db, text(row, 'schema'));
    yield {
      kind: 'function',
      key: childKey(schema, 'function', `${text(row, 'name')}(${text(row, 'identity_arguments')})`),
      parent: schema,
      schema: row.schema,
      name: row.name,
      functionKind: row.function_kind,
      owner: row.owner,
      language: row.language,
      arguments: row.arguments,
      returnType: nullable(row.return_type),
      returnsSet: row.returns_set,
      volatility: row.volatility,
      securityDefiner: row.security_definer,
      strict: row.strict,
      comment: nullable(row.comment),
      ...(options.includeFunctionBodies ? { body: nullable(row.body) } : {}),
    };
  }

  const relationOids: number[] = [];
  for await (const row of rows(sql.SCOPE_RELATIONS)) relationOids.push(row.oid as number);
  const crawlScope: CrawlScope = {
    relations: relationOids,
    schemas: schemaOids,
    serverVersionNum: database.server_version_num as number,
  };
  const pipeline = new CatalogPipeline(
    second === undefined ? [session] : [session, second],
    RELATION_KINDS.flatMap((kind) => relationTasks(kind, crawlScope)),
    vanished,
  );
  const sliceCount = slices(relationOids).length;
  try {
    yield* relationRecords(pipeline, sliceCount, db, viewDefinitions, vanished);
  } finally {
    await pipeline.close();
  }
}

async function* relationRecords(
  pipeline: CatalogPipeline,
  sliceCount: number,
  db: string,
  viewDefinitions: ViewDefinitions,
  vanished: VanishedObjects,
): AsyncGenerator<MetadataRecord, void, undefined> {
  const rows = (): AsyncGenerator<Row, void, undefined> => pipeline.rows(sliceCount);
  const rel = (schema: string, name: string): string => relationKey(db, schema, name);
  const typeKey = (schema: string, name: string): string => childKey(schemaKey(db, schema), 'type', name);

  for await (const page of pages(rows(), RELATION_PAGE)) {
    const definitions = await viewDefinitions.fetch(
      page
        .filter((row) => row.relkind === 'v' || row.relkind === 'm')
        .map((row) => ({ oid: row.oid as number, name: `${text(row, 'schema')}.${text(row, 'name')}` })),
    );
    for (const row of page) {
      const schema = text(row, 'schema');
      const relkind = text(row, 'relkind');
      const isPartition = row.is_partition === true;
      const parentKey =
        isPartition && row.parent_name !== null
          ? rel(text(row, 'parent_schema'), text(row, 'parent_name'))
          : schemaKey(db, schema);
      const partitioned = relkind === 'p';
      const view = relkind === 'v' || relkind === 'm';
      const viewDefinition = view ? definitions.get(row.oid as number) : undefined;
      yield {
        kind: 'table',
        key: rel(schema, text(row, 'name')),
        parent: parentKey,
        schema,
        name: row.name,
        tableKind: relationKinds[relkind] ?? relkind,
        owner: row.owner,
        comment: nullable(row.comment),
        estimatedRows: nullable(row.estimated_rows),
        sizeBytes: nullable(row.size_bytes),
        rlsEnabled: row.rls_enabled,
        rlsForced: row.rls_forced,
        ...(partitioned
          ? {
              partitioning: {
                strategy: row.partition_strategy,
                key: row.partition_key,
                partitionCount: row.partition_count,
              },
            }
          : {}),
        ...(isPartition ? { partitionOf: parentKey, partitionBound: row.partition_bound } : {}),
        inherits: jsonList<[string, string]>(row.inherits).map(([s, n]) => rel(s, n)),
        ...(view ? { definition: viewDefinition?.definition ?? null } : {}),
        ...(relkind === 'v' ? { checkOption: nullable(row.check_option) } : {}),
        ...(relkind === 'f' ? { foreignServer: nullable(row.foreign_server) } : {}),
        ...vanished.flag('table', row.vanished === true || viewDefinition?.vanished === true),
      };
    }
  }

  for await (const row of rows()) {
    const table = rel(text(row, 'schema'), text(row, 'relation'));
    const elementKind = row.element_typtype as string;
    const elementType = typeKey(text(row, 'element_type_schema'), text(row, 'element_type_name'));
    const composite = elementKind === 'c';
    yield {
      kind: 'column',
      key: columnKey(table, text(row, 'name')),
      parent: table,
      name: row.name,
      ordinal: row.ordinal,
      type: row.type,
      nullable: row.nullable,
      default: nullable(row.default_value),
      identity: nullable(row.identity),
      generated: nullable(row.generated),
      collation: nullable(row.collation),
      comment: nullable(row.comment),
      arrayDimensions: row.array_dimensions,
      enumType: elementKind === 'e' ? elementType : null,
      domainType: elementKind === 'd' ? elementType : null,
      compositeType: composite
        ? row.element_type_relkind === 'c'
          ? elementType
          : rel(text(row, 'element_type_schema'), text(row, 'element_type_name'))
        : null,
      ...vanished.flag('column', row.vanished === true),
    };
  }

  for await (const row of rows()) {
    const table = rel(text(row, 'schema'), text(row, 'relation'));
    const contype = text(row, 'contype');
    const foreign = contype === 'f';
    const definition = nullable<string>(row.definition);
    yield {
      kind: 'constraint',
      key: childKey(table, 'constraint', text(row, 'name')),
      parent: table,
      name: row.name,
      constraintKind: constraintKinds[contype] ?? contype,
      definition,
      columns: row.columns,
      ...(foreign
        ? {
            references: {
              table: rel(text(row, 'ref_schema'), text(row, 'ref_table')),
              columns: row.ref_columns,
            },
            onUpdate: fkActions[text(row, 'on_update')] ?? row.on_update,
            onDelete: fkActions[text(row, 'on_delete')] ?? row.on_delete,
            match: fkMatch[text(row, 'match_type')] ?? row.match_type,
          }
        : {}),
      ...(contype === 'c' ? { expression: definition?.replace(/^CHECK /, '') ?? null } : {}),
      deferrable: row.deferrable,
      initiallyDeferred: row.initially_deferred,
      validated: row.validated,
      inherited: row.inherited,
      comment: nullable(row.comment),
      // An existing constraint always has a definition; NULL means it was dropped after the snapshot.
      ...vanished.flag('constraint', definition === null),
    };
  }

  for await (const row of rows()) {
    const table = rel(text(row, 'schema'), text(row, 'relation'));
    yield {
      kind: 'index',
      key: childKey(table, 'index', text(row, 'name')),
      parent: table,
      name: row.name,
      definition: row.definition,
      unique: row.is_unique,
      primary: row.is_primary,
      method: row.method,
      predicate: nullable(row.predicate),
      columns: row.columns,
      includeColumns: row.include_columns,
      valid: row.valid,
      sizeBytes: row.size_bytes,
      comment: nullable(row.comment),
      ...vanished.flag('index', row.vanished === true || row.definition === null),
    };
  }

  for await (const row of rows()) {
    const table = rel(text(row, 'schema'), text(row, 'relation'));
    const facts = triggerFacts(row.tgtype as number);
    const signature = `${text(row, 'function_name')}(${nullable<string>(row.function_arguments) ?? ''})`;
    yield {
      kind: 'trigger',
      key: childKey(table, 'trigger', text(row, 'name')),
      parent: table,
      name: row.name,
      definition: row.definition,
      ...facts,
      enabled: triggerEnabled[text(row, 'enabled')] ?? row.enabled,
      // The function's record when this crawl emits it (not for pg_catalog, extension or filtered-out
      // functions); the signature always names it.
      function:
        row.function_emitted === true && row.function_arguments !== null
          ? childKey(schemaKey(db, text(row, 'function_schema')), 'function', signature)
          : null,
      functionSignature: `${text(row, 'function_schema')}.${signature}`,
      inherited: row.inherited,
      comment: nullable(row.comment),
      ...vanished.flag('trigger', row.definition === null),
    };
  }

  for await (const row of rows()) {
    const table = rel(text(row, 'schema'), text(row, 'relation'));
    yield {
      kind: 'policy',
      key: childKey(table, 'policy', text(row, 'name')),
      parent: table,
      name: row.name,
      command: row.command,
      permissive: row.permissive,
      roles: row.roles,
      using: nullable(row.using_expression),
      withCheck: nullable(row.check_expression),
      comment: nullable(row.comment),
      ...vanished.flag('policy', row.vanished === true),
    };
  }

  for await (const row of rows()) {
    const view = rel(text(row, 'schema'), text(row, 'relation'));
    const source = rel(text(row, 'source_schema'), text(row, 'source_name'));
    yield {
      kind: 'lineage',
      key: childKey(view, 'reads', text(row, 'source_schema'), text(row, 'source_name')),
      parent: view,
      source,
      sourceKind: relationKinds[text(row, 'source_relkind')] ?? row.source_relkind,
      target: view,
      relation: 'reads',
      ...vanished.flag('lineage', row.vanished === true),
    };
  }
}
