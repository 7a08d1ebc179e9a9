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
): AsyncGenerator<MetadataRecord, void, undefined> {
  const scope = [
    options.schemas.include,
    options.schemas.exclude,
    options.tables.include,
    options.tables.exclude,
  ];
  const [database] = await session.query(sql.DATABASE);
  if (!database) return;
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

  for await (const row of session.stream(sql.EXTENSIONS)) {
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

  for await (const row of session.stream(sql.SCHEMAS, scope)) {
    yield {
      kind: 'schema',
      key: schemaKey(db, text(row, 'name')),
      parent: db,
      name: row.name,
      owner: row.owner,
      comment: nullable(row.comment),
      tableCount: row.table_count,
      viewCount: row.view_count,
    };
  }

  for await (const row of session.stream(sql.TYPES, scope)) {
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
    };
  }

  for await (const row of session.stream(sql.SEQUENCES, scope)) {
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
    };
  }

  for await (const row of session.stream(sql.FUNCTIONS, [...scope, options.includeFunctionBodies])) {
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

  for await (const row of session.stream(sql.RELATIONS, scope)) {
    const schema = text(row, 'schema');
    const relkind = text(row, 'relkind');
    const isPartition = row.is_partition === true;
    const parentKey =
      isPartition && row.parent_name !== null
        ? rel(text(row, 'parent_schema'), text(row, 'parent_name'))
        : schemaKey(db, schema);
    const partitioned = relkind === 'p';
    const view = relkind === 'v' || relkind === 'm';
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
      ...(view ? { definition: row.definition } : {}),
      ...(relkind === 'v' ? { checkOption: nullable(row.check_option) } : {}),
      ...(relkind === 'f' ? { foreignServer: nullable(row.foreign_server) } : {}),
    };
  }

  for await (const row of session.stream(sql.COLUMNS, scope)) {
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
    };
  }

  for await (const row of session.stream(sql.CONSTRAINTS, scope)) {
    const table = rel(text(row, 'schema'), text(row, 'relation'));
    const contype = text(row, 'contype');
    const foreign = contype === 'f';
    yield {
      kind: 'constraint',
      key: childKey(table, 'constraint', text(row, 'name')),
      parent: table,
      name: row.name,
      constraintKind: constraintKinds[contype] ?? contype,
      definition: row.definition,
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
      ...(contype === 'c' ? { expression: text(row, 'definition').replace(/^CHECK /, '') } : {}),
      deferrable: row.deferrable,
      initiallyDeferred: row.initially_deferred,
      validated: row.validated,
      inherited: row.inherited,
      comment: nullable(row.comment),
    };
  }

  for await (const row of session.stream(sql.INDEXES, scope)) {
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
    };
  }

  for await (const row of session.stream(sql.TRIGGERS, scope)) {
    const table = rel(text(row, 'schema'), text(row, 'relation'));
    const facts = triggerFacts(row.tgtype as number);
    yield {
      kind: 'trigger',
      key: childKey(table, 'trigger', text(row, 'name')),
      parent: table,
      name: row.name,
      definition: row.definition,
      ...facts,
      enabled: triggerEnabled[text(row, 'enabled')] ?? row.enabled,
      function: childKey(
        schemaKey(db, text(row, 'function_schema')),
        'function',
        `${text(row, 'function_name')}(${text(row, 'function_arguments')})`,
      ),
      inherited: row.inherited,
      comment: nullable(row.comment),
    };
  }

  for await (const row of session.stream(sql.POLICIES, scope)) {
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
    };
  }

  for await (const row of session.stream(sql.VIEW_LINEAGE, scope)) {
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
    };
  }
}
