/**
 * The catalog queries, one per record kind, streamed through a cursor. They read pg_catalog only and
 * never touch a user table; the one function that locks user relations, pg_get_viewdef(), runs
 * separately (VIEW_DEFINITIONS). The schema-level queries run once per database and take the compiled
 * filters: $1/$2 schema include/exclude, $3/$4 table include/exclude (text[] of PostgreSQL regular
 * expressions; an empty include list means "all"), and $5 the visibility (`catalog` or `granted`). The
 * scope of relations those filters select is computed once (SCOPE_RELATIONS); the per-relation queries
 * then run per slice of it ($1: oid[] in emission order).
 *
 * Concurrent DDL: every query reads pg_catalog under the crawl's snapshot, but the deparsing functions
 * (pg_get_expr, pg_get_constraintdef, pg_get_indexdef, ...) look objects up in the server's *current*
 * catalog. An object dropped after the snapshot therefore makes them return NULL, or fail ("cache lookup
 * failed") when it vanishes while they run. Each query reports such rows as `vanished`, tested with a
 * lock-free lookup in the current catalog (`has_*_privilege` returns NULL for an OID that no longer
 * exists), and calls the deparsers only for objects that still exist; the adapter re-runs a query whose
 * object vanished in the instant between that test and the deparse (see `catalog.ts`).
 */

/** Schemas that are never crawled, whatever the filters say. */
const SYSTEM_SCHEMA = `(n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast') OR n.nspname ~ '^pg_(toast_)?temp_')`;

/**
 * Objects that belong to an extension are described by the extension, not one by one. Membership
 * always references the extension: `refclassid` lets the planner read the few extension rows through
 * pg_depend's reference index instead of scanning all of pg_depend (48 ms vs 0.04 ms at 2,000 tables,
 * 50,000 pg_depend rows; it grows with the catalog, once per use).
 */
const NOT_EXTENSION_MEMBER = (classid: string, oid: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.refclassid = 'pg_extension'::regclass AND dep.classid = '${classid}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;

/** With visibility `granted`, what information_schema shows the role: schemas it may use, relations it holds a privilege on. */
const GRANTED_SCHEMA = (n: string): string =>
  `($5::text = 'catalog' OR pg_has_role(${n}.nspowner, 'USAGE') OR has_schema_privilege(${n}.oid, 'USAGE'))`;
const GRANTED_RELATION = (c: string): string =>
  `($5::text = 'catalog' OR pg_has_role(${c}.relowner, 'USAGE')
    OR has_table_privilege(${c}.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
    OR has_any_column_privilege(${c}.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))`;

/** True when relation `oid` no longer exists in the current catalog (dropped after the snapshot); takes no lock. */
const RELATION_GONE = (oid: string): string => `has_table_privilege(${oid}, 'SELECT') IS NULL`;

/**
 * The crawled schemas (`ns`) and relations (`rel`): tables, views, materialized views, partitioned and
 * foreign tables that pass the filters, plus every partition below them (a partition follows its root
 * table, wherever it lives). `ord` numbers them in emission order: parents before their partitions,
 * then by schema and name (bytewise); every per-relation query sorts on that integer, and names are
 * cast to text so sorted rows stay narrow (a \`name\` is 64 bytes).
 */
export const SCOPE = `
WITH RECURSIVE ns AS (
  SELECT n.oid, n.nspname FROM pg_namespace n
  WHERE NOT ${SYSTEM_SCHEMA}
    AND (cardinality($1::text[]) = 0 OR n.nspname ~ ANY ($1::text[]))
    AND NOT n.nspname ~ ANY ($2::text[])
    AND ${NOT_EXTENSION_MEMBER('pg_namespace', 'n.oid')}
    AND ${GRANTED_SCHEMA('n')}
), rel AS (
  SELECT c.oid, 0 AS depth, 0::oid AS parent
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND NOT c.relispartition
    AND (cardinality($3::text[]) = 0 OR c.relname ~ ANY ($3::text[]))
    AND NOT c.relname ~ ANY ($4::text[])
    AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
    AND ${GRANTED_RELATION('c')}
  UNION ALL
  SELECT i.inhrelid, rel.depth + 1, rel.oid
  FROM rel JOIN pg_inherits i ON i.inhparent = rel.oid
  JOIN pg_class c ON c.oid = i.inhrelid AND c.relispartition
), ord AS (
  SELECT rel.oid, rel.depth, rel.parent, n.nspname::text AS schema, c.relname::text AS relation, c.relkind,
    row_number() OVER (ORDER BY rel.depth, n.nspname COLLATE "C", c.relname COLLATE "C") AS pos
  FROM rel JOIN pg_class c ON c.oid = rel.oid JOIN pg_namespace n ON n.oid = c.relnamespace
)`;

/**
 * The crawl's relations in emission order, read once per database: every per-relation query then
 * takes a slice of these OIDs (`$1`, in order) instead of recomputing the scope, sorts only its slice,
 * and its first rows stream while the server produces the next slice (see `catalog.ts`).
 */
export const SCOPE_RELATIONS = `${SCOPE}
SELECT ord.oid FROM ord ORDER BY ord.pos`;

/**
 * One slice of the scope: `pos` is the emission order, `vanished` whether the relation was dropped
 * after the snapshot, tested once per relation (MATERIALIZED keeps it from being re-evaluated per joined row).
 */
const SLICE = `WITH ord AS MATERIALIZED (
  SELECT c.pos, c.oid, n.nspname::text AS schema, c.relname::text AS relation, c.relkind,
    ${RELATION_GONE('c.oid')} AS vanished
  -- One index lookup per OID (OFFSET 0 keeps the subquery from being flattened into a join, with which
  -- the planner scanned all of pg_class for every slice); the outer OFFSET 0 makes pg_namespace hashed
  -- once per slice, not scanned once per OID (0.1 ms each at 255 schemas: ~230 ms of every slice query
  -- at 50k tables, most of the floor).
  FROM (SELECT s.pos, c.oid, c.relname, c.relkind, c.relnamespace FROM unnest($1::oid[]) WITH ORDINALITY s(oid, pos)
    CROSS JOIN LATERAL (SELECT c.oid, c.relname, c.relkind, c.relnamespace FROM pg_class c WHERE c.oid = s.oid OFFSET 0) c
    OFFSET 0) c
  JOIN pg_namespace n ON n.oid = c.relnamespace
)`;

/** The connected database. */
export const DATABASE = `
SELECT d.datname AS name, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
  d.datcollate AS collation, d.datctype AS ctype,
  CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid)::float8 END AS size_bytes,
  shobj_description(d.oid, 'pg_database') AS comment,
  current_setting('server_version') AS server_version,
  current_setting('server_version_num')::int AS server_version_num
FROM pg_database d WHERE d.datname = current_database()`;

/** Databases of the server the session's user may connect to ($1/$2 include/exclude). */
export const DATABASES = `
SELECT d.datname AS name FROM pg_database d
WHERE d.datallowconn AND NOT d.datistemplate AND has_database_privilege(d.oid, 'CONNECT')
  AND (cardinality($1::text[]) = 0 OR d.datname ~ ANY ($1::text[]))
  AND NOT d.datname ~ ANY ($2::text[])
ORDER BY d.datname COLLATE "C"`;

/** Extensions installed in the database. */
export const EXTENSIONS = `
SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema, e.extrelocatable AS relocatable,
  obj_description(e.oid, 'pg_extension') AS comment
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.extname COLLATE "C"`;

/** Schemas with owner, comment and relation counts. */
export const SCHEMAS = `${SCOPE}, counts AS (
  SELECT c.relnamespace AS nsp,
    count(*) FILTER (WHERE c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition)::int AS tables,
    count(*) FILTER (WHERE c.relkind IN ('v', 'm'))::int AS views
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')} AND ${GRANTED_RELATION('c')}
  GROUP BY c.relnamespace
)
SELECT n.oid, n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner, d.description AS comment,
  coalesce(counts.tables, 0) AS table_count, coalesce(counts.views, 0) AS view_count,
  has_schema_privilege(n.oid, 'USAGE') IS NULL AS vanished
FROM ns JOIN pg_namespace n ON n.oid = ns.oid
LEFT JOIN counts ON counts.nsp = n.oid
LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
ORDER BY n.nspname COLLATE "C"`;

/** Enum, domain and composite types (table row types and array types are not separate objects). */
export const TYPES = `${SCOPE}
SELECT n.nspname AS schema, t.typname AS name, t.typtype AS type_kind, pg_get_userbyid(t.typowner) AS owner,
  d.description AS comment, has_type_privilege(t.oid, 'USAGE') IS NULL AS vanished,
  CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
  CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
  t.typnotnull AS not_null, t.typdefault AS default_value,
  CASE WHEN t.typtype = 'd' THEN ARRAY(SELECT json_build_object('name', con.conname,
      'expression', CASE WHEN has_type_privilege(t.oid, 'USAGE') IS NOT NULL THEN pg_get_constraintdef(con.oid) END,
      'comment', cd.description)::text
    FROM pg_constraint con
    LEFT JOIN pg_description cd ON cd.objoid = con.oid AND cd.classoid = 'pg_constraint'::regclass AND cd.objsubid = 0
    WHERE con.contypid = t.oid ORDER BY con.conname COLLATE "C") END AS checks,
  CASE WHEN t.typtype = 'd' AND t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN co.collname END AS collation,
  CASE WHEN t.typtype = 'c' THEN ARRAY(SELECT json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod))::text
    FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) END AS attributes
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_collation co ON co.oid = t.typcollation
LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass AND d.objsubid = 0
WHERE (t.typtype IN ('e', 'd')
    OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
  AND ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}
ORDER BY n.nspname COLLATE "C", t.typname COLLATE "C"`;

/** Sequences, with the column that owns them (serial / identity). */
export const SEQUENCES = `${SCOPE}
SELECT n.nspname AS schema, c.relname AS name, pg_get_userbyid(c.relowner) AS owner, d.description AS comment,
  format_type(s.seqtypid, NULL) AS data_type, s.seqstart::text AS start, s.seqincrement::text AS increment,
  s.seqmin::text AS min, s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle,
  own_n.nspname AS owned_by_schema, own_c.relname AS owned_by_table, own_a.attname AS owned_by_column,
  dep.deptype = 'i' AS identity, ${RELATION_GONE('c.oid')} AS vanished
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
  AND dep.refclassid = 'pg_class'::regclass AND dep.refobjsubid > 0 AND dep.deptype IN ('a', 'i')
LEFT JOIN pg_class own_c ON own_c.oid = dep.refobjid
LEFT JOIN pg_namespace own_n ON own_n.oid = own_c.relnamespace
LEFT JOIN pg_attribute own_a ON own_a.attrelid = dep.refobjid AND own_a.attnum = dep.refobjsubid
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind = 'S' AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
  AND ($5::text = 'catalog' OR pg_has_role(c.relowner, 'USAGE') OR has_sequence_privilege(c.oid, 'SELECT, UPDATE, USAGE'))
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C", c.oid`;

/**
 * Functions, procedures, aggregates and window functions ($6: include bodies). The pg_get_function_*
 * deparsers return NULL for a function dropped after the snapshot; such a row is `vanished`. Overloads
 * are ordered by OID so a re-run of the query yields rows in the same order.
 */
export const FUNCTIONS = `${SCOPE}
SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS identity_arguments,
  CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window' ELSE 'function' END AS function_kind,
  has_function_privilege(p.oid, 'EXECUTE') IS NULL AS vanished,
  pg_get_userbyid(p.proowner) AS owner, l.lanname AS language,
  pg_get_function_arguments(p.oid) AS arguments, pg_get_function_result(p.oid) AS return_type,
  p.proretset AS returns_set,
  CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END AS volatility,
  p.prosecdef AS security_definer, p.proisstrict AS strict,
  d.description AS comment,
  CASE WHEN $6::boolean THEN p.prosrc END AS body
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
WHERE p.prokind IN ('f', 'p', 'a', 'w') AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
ORDER BY n.nspname COLLATE "C", p.proname COLLATE "C", p.oid`;

/** Relations of one slice: tables, views, materialized views, partitioned and foreign tables, partitions. */
export const RELATIONS = `${SLICE}
SELECT ord.schema, ord.relation AS name, c.relkind, c.relispartition AS is_partition,
  -- A partition in the scope always follows its one parent (pg_inherits), which is in the scope too.
  pn.nspname::text AS parent_schema, pc.relname::text AS parent_name,
  pg_get_userbyid(c.relowner)::text AS owner, d.description AS comment, ord.vanished,
  CASE WHEN c.relkind IN ('r', 'p', 'm', 'f') AND c.reltuples >= 0 THEN c.reltuples::float8 END AS estimated_rows,
  -- relpages is -1 on a partitioned table (and its partitioned indexes) that ANALYZE has seen: it has no storage.
  CASE WHEN c.relkind IN ('r', 'm', 'p') THEN ((greatest(c.relpages, 0)::bigint
    + coalesce((SELECT greatest(t.relpages, 0) FROM pg_class t WHERE t.oid = c.reltoastrelid), 0)
    + coalesce((SELECT sum(greatest(ic.relpages, 0)) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid WHERE x.indrelid = c.oid), 0))
    * current_setting('block_size')::bigint)::float8 END AS size_bytes,
  c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
  CASE pt.partstrat WHEN 'r' THEN 'range' WHEN 'l' THEN 'list' WHEN 'h' THEN 'hash' END AS partition_strategy,
  CASE WHEN c.relkind = 'p' AND NOT ord.vanished THEN substring(pg_get_partkeydef(c.oid) FROM '^\\w+ \\((.*)\\)$') END AS partition_key,
  CASE WHEN c.relkind = 'p' THEN (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid)::int END AS partition_count,
  CASE WHEN c.relispartition AND NOT ord.vanished THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
  c.oid AS oid,
  CASE WHEN NOT c.relispartition AND c.relhassubclass IS NOT NULL THEN ARRAY(SELECT json_build_array(ipn.nspname, ipc.relname)::text
    FROM pg_inherits i JOIN pg_class ipc ON ipc.oid = i.inhparent JOIN pg_namespace ipn ON ipn.oid = ipc.relnamespace
    WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) END AS inherits,
  CASE WHEN c.relkind = 'f' THEN (SELECT fs.srvname::text FROM pg_foreign_table ft JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
    WHERE ft.ftrelid = c.oid) END AS foreign_server,
  CASE WHEN c.relkind = 'v' THEN (SELECT vo.option_value FROM pg_options_to_table(c.reloptions) vo WHERE vo.option_name = 'check_option') END AS check_option
FROM ord JOIN pg_class c ON c.oid = ord.oid
LEFT JOIN pg_inherits pi ON c.relispartition AND pi.inhrelid = c.oid
LEFT JOIN pg_class pc ON pc.oid = pi.inhparent LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
LEFT JOIN pg_partitioned_table pt ON c.relkind = 'p' AND pt.partrelid = c.oid
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
ORDER BY ord.pos`;

/**
 * Definitions of some views ($1: oid[]). pg_get_viewdef() locks every relation a view reads until the
 * end of the (sub)transaction, so the adapter runs this in a savepoint it rolls back: thousands of views
 * would otherwise exhaust the server's lock table (max_locks_per_transaction).
 */
export const VIEW_DEFINITIONS = `SELECT c.oid, CASE WHEN NOT live.vanished THEN pg_get_viewdef(c.oid) END AS definition, live.vanished
FROM pg_class c CROSS JOIN LATERAL (SELECT ${RELATION_GONE('c.oid')} AS vanished) live WHERE c.oid = ANY ($1::oid[])`;

/** Whether relation $1 was dropped after the snapshot. */
export const RELATION_VANISHED = `SELECT ${RELATION_GONE('$1::oid')} AS vanished`;

/** Columns of one slice's relations, in relation order then ordinal. */
export const COLUMNS = `${SLICE}
SELECT ord.schema, ord.relation, a.attnum AS ordinal, a.attname::text AS name,
  format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable, ord.vanished,
  CASE WHEN a.attgenerated = '' AND ad.adbin IS NOT NULL AND NOT ord.vanished THEN pg_get_expr(ad.adbin, ad.adrelid) END AS default_value,
  CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
  CASE WHEN a.attgenerated <> '' AND NOT ord.vanished THEN pg_get_expr(ad.adbin, ad.adrelid) END AS generated,
  -- As psql's describe commands show it: the bare collation name.
  CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation THEN (
    SELECT co.collname::text FROM pg_collation co WHERE co.oid = a.attcollation) END AS collation,
  d.description AS comment,
  CASE WHEN ty.typcategory = 'A' THEN greatest(a.attndims, 1) ELSE 0 END AS array_dimensions,
  CASE WHEN et.typtype IN ('e', 'd', 'c') THEN et.typtype END AS element_typtype,
  CASE WHEN et.typtype IN ('e', 'd', 'c') THEN (SELECT etn.nspname::text FROM pg_namespace etn WHERE etn.oid = et.typnamespace) END AS element_type_schema,
  CASE WHEN et.typtype IN ('e', 'd', 'c') THEN et.typname::text END AS element_type_name,
  CASE WHEN et.typtype = 'c' THEN (SELECT rc.relkind FROM pg_class rc WHERE rc.oid = et.typrelid) END AS element_type_relkind
FROM ord
JOIN pg_attribute a ON a.attrelid = ord.oid AND a.attnum > 0 AND NOT a.attisdropped
-- Vanished per table, not per column: has_column_privilege() would also catch a column dropped alone,
-- but its attribute lookups made this query ~55% slower (2,000 tables, 40,000 columns). Such a column
-- keeps the default the snapshot recorded, which still deparses.
JOIN pg_type ty ON ty.oid = a.atttypid
JOIN pg_type et ON et.oid = CASE WHEN ty.typcategory = 'A' AND ty.typelem <> 0 THEN ty.typelem ELSE ty.oid END
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
ORDER BY ord.pos, a.attnum`;

/** Primary key, unique, foreign key, check and exclusion constraints of one slice's relations. */
export const CONSTRAINTS = `${SLICE}
SELECT ord.schema, ord.relation, con.conname::text AS name, con.contype,
  -- NULL once the constraint is gone (dropped after the snapshot): the adapter flags the row vanished.
  CASE WHEN NOT ord.vanished THEN pg_get_constraintdef(con.oid) END AS definition,
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, i)
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i) AS columns,
  fn.nspname::text AS ref_schema, fc.relname::text AS ref_table,
  CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, i)
    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.i) END AS ref_columns,
  con.confupdtype AS on_update, con.confdeltype AS on_delete, con.confmatchtype AS match_type,
  con.condeferrable AS deferrable, con.condeferred AS initially_deferred, con.convalidated AS validated,
  -- conparentid: a partition's copy of its parent's index-backed constraint; coninhcount: CHECK and
  -- NOT NULL copies on partitions and inheritance children.
  con.conparentid <> 0 OR con.coninhcount > 0 AS inherited, d.description AS comment
FROM ord
-- Index lookups per relation (OFFSET 0 keeps the planner from hashing all of pg_constraint for every
-- slice instead: 121,000 rows, ~0.2 s per slice at 50k tables).
CROSS JOIN LATERAL (SELECT con.oid, con.conname, con.contype, con.conrelid, con.conkey, con.confrelid, con.confkey,
    con.confupdtype, con.confdeltype, con.confmatchtype, con.condeferrable, con.condeferred, con.convalidated,
    con.conparentid, con.coninhcount
  FROM pg_constraint con WHERE con.conrelid = ord.oid AND con.contype IN ('p', 'u', 'f', 'c', 'x') OFFSET 0) con
LEFT JOIN pg_class fc ON con.contype = 'f' AND fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
LEFT JOIN pg_description d ON d.objoid = con.oid AND d.classoid = 'pg_constraint'::regclass AND d.objsubid = 0
ORDER BY ord.pos, con.conname COLLATE "C", con.oid`;

/** Indexes of one slice's relations. */
export const INDEXES = `${SLICE}
SELECT ord.schema, ord.relation, ic.relname::text AS name,
  -- NULL once the index is gone (dropped after the snapshot): the adapter flags the row vanished.
  CASE WHEN NOT live.vanished THEN pg_get_indexdef(x.indexrelid) END AS definition,
  x.indisunique AS is_unique, x.indisprimary AS is_primary, am.amname::text AS method,
  CASE WHEN NOT live.vanished THEN pg_get_expr(x.indpred, x.indrelid) END AS predicate,
  -- Plain columns by name; only expression columns (indkey 0) need the costly per-column deparse.
  ARRAY(SELECT CASE WHEN k.attnum <> 0 THEN a.attname::text WHEN NOT live.vanished THEN pg_get_indexdef(x.indexrelid, k.i::int, false) END
    FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, i)
    LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
    WHERE k.i <= x.indnkeyatts ORDER BY k.i) AS columns,
  ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, i)
    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
    WHERE k.i > x.indnkeyatts ORDER BY k.i) AS include_columns,
  x.indisvalid AS valid, ((greatest(ic.relpages, 0)::bigint) * current_setting('block_size')::bigint)::float8 AS size_bytes,
  d.description AS comment
FROM ord
JOIN pg_index x ON x.indrelid = ord.oid JOIN pg_class ic ON ic.oid = x.indexrelid
JOIN pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL (SELECT ord.vanished OR ${RELATION_GONE('x.indexrelid')} AS vanished) live
LEFT JOIN pg_description d ON d.objoid = ic.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
ORDER BY ord.pos, ic.relname COLLATE "C"`;

/**
 * User triggers of one slice's relations (internal constraint triggers are implied by constraints).
 * `function_emitted`: whether this crawl emits the trigger function's record (not when it lives in
 * pg_catalog, in a schema outside the crawl ($2: the crawled schemas' OIDs), or belongs to an extension).
 */
export const TRIGGERS = `${SLICE}
SELECT ord.schema, ord.relation, tg.tgname::text AS name,
  -- NULL once the trigger is gone (dropped after the snapshot): the adapter flags the row vanished.
  CASE WHEN NOT ord.vanished THEN pg_get_triggerdef(tg.oid) END AS definition,
  tg.tgtype::int AS tgtype, tg.tgenabled AS enabled, pn.nspname::text AS function_schema, p.proname::text AS function_name,
  pg_get_function_identity_arguments(p.oid) AS function_arguments, tg.tgparentid <> 0 AS inherited,
  p.pronamespace = ANY ($2::oid[]) AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')} AS function_emitted,
  d.description AS comment
FROM ord
-- Index lookups per relation (OFFSET 0): otherwise every slice scanned all of pg_trigger, whose rows
-- are mostly the internal triggers of foreign keys (200,000 at 50k tables, ~0.1 s per slice).
CROSS JOIN LATERAL (SELECT tg.oid, tg.tgname, tg.tgtype, tg.tgenabled, tg.tgfoid, tg.tgparentid
  FROM pg_trigger tg WHERE tg.tgrelid = ord.oid AND NOT tg.tgisinternal OFFSET 0) tg
JOIN pg_proc p ON p.oid = tg.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
LEFT JOIN pg_description d ON d.objoid = tg.oid AND d.classoid = 'pg_trigger'::regclass AND d.objsubid = 0
ORDER BY ord.pos, tg.tgname COLLATE "C"`;

/** Row-level security policies of one slice's relations. */
export const POLICIES = `${SLICE}
SELECT ord.schema, ord.relation, po.polname::text AS name,
  CASE po.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
  po.polpermissive AS permissive,
  ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(po.polroles) r ORDER BY 1) AS roles,
  CASE WHEN NOT live.vanished THEN pg_get_expr(po.polqual, po.polrelid) END AS using_expression,
  CASE WHEN NOT live.vanished THEN pg_get_expr(po.polwithcheck, po.polrelid) END AS check_expression,
  live.vanished, d.description AS comment
FROM ord
JOIN pg_policy po ON po.polrelid = ord.oid
-- pg_describe_object() is NULL for a policy that no longer exists; it takes no lock.
CROSS JOIN LATERAL (SELECT pg_describe_object('pg_policy'::regclass, po.oid, 0) IS NULL AS vanished) live
LEFT JOIN pg_description d ON d.objoid = po.oid AND d.classoid = 'pg_policy'::regclass AND d.objsubid = 0
ORDER BY ord.pos, po.polname COLLATE "C"`;

/** View lineage: every relation a view or materialized view of one slice reads, through its rewrite rule. */
export const VIEW_LINEAGE = `${SLICE}
SELECT * FROM (
  SELECT DISTINCT ord.pos, ord.schema, ord.relation, sn.nspname::text AS source_schema, sc.relname::text AS source_name,
    sc.relkind AS source_relkind, ord.vanished
  FROM ord
  JOIN pg_rewrite rw ON rw.ev_class = ord.oid AND ord.relkind IN ('v', 'm')
  JOIN pg_depend dep ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = rw.oid
    AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid <> ord.oid AND dep.deptype = 'n'
  JOIN pg_class sc ON sc.oid = dep.refobjid JOIN pg_namespace sn ON sn.oid = sc.relnamespace
) edges
ORDER BY pos, source_schema COLLATE "C", source_name COLLATE "C"`;
