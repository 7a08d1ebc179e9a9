/**
 * Record keys. Every identifier is one percent-encoded path segment (`encodeURIComponent`), so `/`,
 * `.`, quotes, spaces and unicode in names cannot make two objects share a key. Kind markers start
 * with `@`, which `encodeURIComponent` always encodes, so a marker never equals an encoded name:
 *
 *   postgres://host:port/db                       database
 *   postgres://host:port/db/schema                schema
 *   postgres://host:port/db/schema/relation       table, view, materialized view, partition, ...
 *   postgres://host:port/db/schema/relation/col   column
 *   <parent>/@<kind>/<name>                       everything else (index, constraint, type, ...)
 */
const enc = encodeURIComponent;

/** The key prefix of one server: `postgres://host:port`, host lower-cased. */
export function serverKey(host: string, port: number): string {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  // An IPv6 literal keeps its brackets, as in a URL; every other host is one encoded segment.
  return `postgres://${h.includes(':') && /^[\da-f:.]+$/.test(h) ? `[${h}]` : enc(h)}:${port}`;
}

/** Key of a database. */
export function databaseKey(server: string, database: string): string {
  return `${server}/${enc(database)}`;
}

/** Key of a schema. */
export function schemaKey(database: string, schema: string): string {
  return `${database}/${enc(schema)}`;
}

/** Key of a relation (anything in pg_class that is reported by its own name: tables, views, ...). */
export function relationKey(database: string, schema: string, relation: string): string {
  return `${database}/${enc(schema)}/${enc(relation)}`;
}

/** Key of a column of a relation. */
export function columnKey(relation: string, column: string): string {
  return `${relation}/${enc(column)}`;
}

/** Key of any other object: `<parent>/@<kind>/<name>`; `name` may have several parts, each encoded. */
export function childKey(parent: string, kind: string, ...name: string[]): string {
  return `${parent}/@${kind}/${name.map(enc).join('/')}`;
}
