/**
 * The catalog queries, one per record kind, each run once per database over the whole catalog and
 * streamed through a cursor. They read pg_catalog only, take no relation locks, and never touch a
 * user table. Parameters are the compiled filters: $1/$2 schema include/exclude, $3/$4 table
 * include/exclude (text[] of PostgreSQL regular expressions; an empty include list means "all").
 */

/** Schemas that are never crawled, whatever the filters say. */
const SYSTEM_SCHEMA = `(n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast') OR n.nspname ~ '^pg_(toast_)?temp_')`;

/**
 * The crawled schemas (`ns`) and relations (`rel`): tables, views, materialized views, partitioned and
 * foreign tables that pass the filters, plus every partition below them (a partition follows its root
 * table, wherever it lives). `depth` orders parents before their partitions.
 */
const SCOPE = `
WITH RECURSIVE ns AS (
  SELECT n.oid, n.nspname FROM pg_namespace n
  WHERE NOT ${SYSTEM_SCHEMA}
    AND (cardinality($1::text[]) = 0 OR n.nspname ~ ANY ($1::text[]))
    AND NOT n.nspname ~ ANY ($2::text[])
), rel AS (
  SELECT c.oid, 0 AS depth, 0::oid AS parent
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND NOT c.relispartition
    AND (cardinality($3::text[]) = 0 OR c.relname ~ ANY ($3::text[]))
    AND NOT c.relname ~ ANY ($4::text[])
  UNION ALL
  SELECT i.inhrelid, rel.depth + 1, rel.oid
  FROM rel JOIN pg_inherits i ON i.inhparent = rel.oid
  JOIN pg_class c ON c.oid = i.inhrelid AND c.relispartition
)`;

/** Relations in emission order: parents before partitions, then by schema and name (bytewise). */
const REL_ORDER = `rel.depth, n.nspname COLLATE "C", c.relname COLLATE "C"`;

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
export const SCHEMAS = `${SCOPE}
SELECT n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner, d.description AS comment,
  (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition)::int AS table_count,
  (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('v', 'm'))::int AS view_count
FROM ns JOIN pg_namespace n ON n.oid = ns.oid
LEFT JOIN pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0
ORDER BY n.nspname COLLATE "C"`;

/** Objects that belong to an extension are described by the extension, not one by one. */
const NOT_EXTENSION_MEMBER = (classid: string, oid: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${classid}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;

/** Enum, domain and composite types (table row types and array types are not separate objects). */
export const TYPES = `${SCOPE}
SELECT n.nspname AS schema, t.typname AS name, t.typtype AS type_kind, pg_get_userbyid(t.typowner) AS owner,
  d.description AS comment,
  CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
  CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
  t.typnotnull AS not_null, t.typdefault AS default_value,
  CASE WHEN t.typtype = 'd' THEN ARRAY(SELECT json_build_object('name', con.conname, 'expression', pg_get_constraintdef(con.oid))::text
    FROM pg_constraint con WHERE con.contypid = t.oid ORDER BY con.conname COLLATE "C") END AS checks,
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
  dep.deptype = 'i' AS identity
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
  AND dep.refclassid = 'pg_class'::regclass AND dep.refobjsubid > 0 AND dep.deptype IN ('a', 'i')
LEFT JOIN pg_class own_c ON own_c.oid = dep.refobjid
LEFT JOIN pg_namespace own_n ON own_n.oid = own_c.relnamespace
LEFT JOIN pg_attribute own_a ON own_a.attrelid = dep.refobjid AND own_a.attnum = dep.refobjsubid
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind = 'S' AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`;

/** Functions and procedures ($5: include bodies). */
export const FUNCTIONS = `${SCOPE}
SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS identity_arguments,
  CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END AS function_kind,
  pg_get_userbyid(p.proowner) AS owner, l.lanname AS language,
  pg_get_function_arguments(p.oid) AS arguments, pg_get_function_result(p.oid) AS return_type,
  p.proretset AS returns_set,
  CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END AS volatility,
  p.prosecdef AS security_definer, p.proisstrict AS strict,
  d.description AS comment,
  CASE WHEN $5::boolean THEN p.prosrc END AS body
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
WHERE p.prokind IN ('f', 'p') AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
ORDER BY n.nspname COLLATE "C", p.proname COLLATE "C", pg_get_function_identity_arguments(p.oid) COLLATE "C"`;

/** Relations: tables, views, materialized views, partitioned and foreign tables, partitions. */
export const RELATIONS = `${SCOPE}
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS relkind, c.relispartition AS is_partition,
  pn.nspname AS parent_schema, pc.relname AS parent_name,
  pg_get_userbyid(c.relowner) AS owner, d.description AS comment,
  CASE WHEN c.relkind IN ('r', 'p', 'm', 'f') AND c.reltuples >= 0 THEN c.reltuples::float8 END AS estimated_rows,
  CASE WHEN c.relkind IN ('r', 'm', 'p') THEN ((c.relpages::bigint + coalesce(t.relpages, 0)
    + coalesce((SELECT sum(ic.relpages) FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid WHERE x.indrelid = c.oid), 0))
    * current_setting('block_size')::bigint)::float8 END AS size_bytes,
  c.relrowsecurity AS rls_enabled, c.relforcerowsecurity AS rls_forced,
  CASE pt.partstrat WHEN 'r' THEN 'range' WHEN 'l' THEN 'list' WHEN 'h' THEN 'hash' END AS partition_strategy,
  CASE WHEN c.relkind = 'p' THEN substring(pg_get_partkeydef(c.oid) FROM '^\\w+ \\((.*)\\)$') END AS partition_key,
  CASE WHEN c.relkind = 'p' THEN (SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid)::int END AS partition_count,
  CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
  CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition,
  CASE WHEN NOT c.relispartition THEN ARRAY(SELECT json_build_array(ipn.nspname, ipc.relname)::text
    FROM pg_inherits i JOIN pg_class ipc ON ipc.oid = i.inhparent JOIN pg_namespace ipn ON ipn.oid = ipc.relnamespace
    WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) END AS inherits,
  fs.srvname AS foreign_server,
  CASE WHEN c.relkind = 'v' THEN (SELECT vo.option_value FROM pg_options_to_table(c.reloptions) vo WHERE vo.option_name = 'check_option') END AS check_option
FROM rel JOIN pg_class c ON c.oid = rel.oid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class pc ON pc.oid = rel.parent LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
ORDER BY ${REL_ORDER}`;

/** Columns of every crawled relation, in relation order then ordinal. */
export const COLUMNS = `${SCOPE}
SELECT n.nspname AS schema, c.relname AS relation, a.attnum AS ordinal, a.attname AS name,
  format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
  CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS default_value,
  CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
  CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS generated,
  CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation THEN
    CASE WHEN con.nspname = 'pg_catalog' THEN quote_ident(co.collname) ELSE quote_ident(con.nspname) || '.' || quote_ident(co.collname) END END AS collation,
  d.description AS comment,
  CASE WHEN ty.typcategory = 'A' THEN greatest(a.attndims, 1) ELSE 0 END AS array_dimensions,
  et.typtype AS element_typtype, etn.nspname AS element_type_schema, et.typname AS element_type_name,
  (SELECT rc.relkind FROM pg_class rc WHERE rc.oid = et.typrelid) AS element_type_relkind
FROM rel JOIN pg_class c ON c.oid = rel.oid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type ty ON ty.oid = a.atttypid
JOIN pg_type et ON et.oid = CASE WHEN ty.typcategory = 'A' AND ty.typelem <> 0 THEN ty.typelem ELSE ty.oid END
JOIN pg_namespace etn ON etn.oid = et.typnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_namespace con ON con.oid = co.collnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
ORDER BY ${REL_ORDER}, a.attnum`;

/** Primary key, unique, foreign key, check and exclusion constraints of crawled relations. */
export const CONSTRAINTS = `${SCOPE}
SELECT n.nspname AS schema, c.relname AS relation, con.conname AS name, con.contype AS contype,
  pg_get_constraintdef(con.oid) AS definition,
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, i)
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i) AS columns,
  fn.nspname AS ref_schema, fc.relname AS ref_table,
  ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, i)
    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.i) AS ref_columns,
  con.confupdtype AS on_update, con.confdeltype AS on_delete, con.confmatchtype AS match_type,
  con.condeferrable AS deferrable, con.condeferred AS initially_deferred, con.convalidated AS validated,
  con.conparentid <> 0 AS inherited, d.description AS comment
FROM rel JOIN pg_class c ON c.oid = rel.oid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_constraint con ON con.conrelid = c.oid AND con.contype IN ('p', 'u', 'f', 'c', 'x')
LEFT JOIN pg_class fc ON fc.oid = con.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
LEFT JOIN pg_description d ON d.objoid = con.oid AND d.classoid = 'pg_constraint'::regclass AND d.objsubid = 0
ORDER BY ${REL_ORDER}, con.conname COLLATE "C"`;

/** Indexes of crawled relations. */
export const INDEXES = `${SCOPE}
SELECT n.nspname AS schema, c.relname AS relation, ic.relname AS name, pg_get_indexdef(x.indexrelid) AS definition,
  x.indisunique AS is_unique, x.indisprimary AS is_primary, am.amname AS method,
  pg_get_expr(x.indpred, x.indrelid) AS predicate,
  ARRAY(SELECT pg_get_indexdef(x.indexrelid, k.i::int, false) FROM generate_series(1, x.indnkeyatts) k(i) ORDER BY k.i) AS columns,
  ARRAY(SELECT pg_get_indexdef(x.indexrelid, k.i::int, false) FROM generate_series(x.indnkeyatts + 1, x.indnatts) k(i) ORDER BY k.i) AS include_columns,
  x.indisvalid AS valid, ((ic.relpages::bigint) * current_setting('block_size')::bigint)::float8 AS size_bytes,
  d.description AS comment
FROM rel JOIN pg_class c ON c.oid = rel.oid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index x ON x.indrelid = c.oid JOIN pg_class ic ON ic.oid = x.indexrelid
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_description d ON d.objoid = ic.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
ORDER BY ${REL_ORDER}, ic.relname COLLATE "C"`;

/** User triggers of crawled relations (internal constraint triggers are implied by constraints). */
export const TRIGGERS = `${SCOPE}
SELECT n.nspname AS schema, c.relname AS relation, tg.tgname AS name, pg_get_triggerdef(tg.oid) AS definition,
  tg.tgtype::int AS tgtype, tg.tgenabled AS enabled, pn.nspname AS function_schema, p.proname AS function_name,
  pg_get_function_identity_arguments(p.oid) AS function_arguments, tg.tgparentid <> 0 AS inherited,
  d.description AS comment
FROM rel JOIN pg_class c ON c.oid = rel.oid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_trigger tg ON tg.tgrelid = c.oid AND NOT tg.tgisinternal
JOIN pg_proc p ON p.oid = tg.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
LEFT JOIN pg_description d ON d.objoid = tg.oid AND d.classoid = 'pg_trigger'::regclass AND d.objsubid = 0
ORDER BY ${REL_ORDER}, tg.tgname COLLATE "C"`;

/** Row-level security policies of crawled relations. */
export const POLICIES = `${SCOPE}
SELECT n.nspname AS schema, c.relname AS relation, po.polname AS name,
  CASE po.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS command,
  po.polpermissive AS permissive,
  ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(po.polroles) r ORDER BY 1) AS roles,
  pg_get_expr(po.polqual, po.polrelid) AS using_expression,
  pg_get_expr(po.polwithcheck, po.polrelid) AS check_expression
FROM rel JOIN pg_class c ON c.oid = rel.oid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_policy po ON po.polrelid = c.oid
ORDER BY ${REL_ORDER}, po.polname COLLATE "C"`;

/** View lineage: every relation a crawled view or materialized view reads, through its rewrite rule. */
export const VIEW_LINEAGE = `${SCOPE}
SELECT * FROM (
  SELECT DISTINCT n.nspname AS schema, c.relname AS relation, sn.nspname AS source_schema, sc.relname AS source_name,
    sc.relkind AS source_relkind, rel.depth
  FROM rel JOIN pg_class c ON c.oid = rel.oid AND c.relkind IN ('v', 'm') JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_rewrite rw ON rw.ev_class = c.oid
  JOIN pg_depend dep ON dep.classid = 'pg_rewrite'::regclass AND dep.objid = rw.oid
    AND dep.refclassid = 'pg_class'::regclass AND dep.refobjid <> c.oid AND dep.deptype = 'n'
  JOIN pg_class sc ON sc.oid = dep.refobjid JOIN pg_namespace sn ON sn.oid = sc.relnamespace
) edges
ORDER BY depth, schema COLLATE "C", relation COLLATE "C", source_schema COLLATE "C", source_name COLLATE "C"`;
