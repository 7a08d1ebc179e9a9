/**
 * Times each catalog query of one crawl (per slice for the per-relation ones, summed per query) through
 * psql's \\timing, COPY … TO STDOUT into /dev/null, in the crawl's read-only snapshot transaction: which
 * query dominates the psql floor.
 *
 *   tsx bench/postgres/query-times.ts <database>
 */
import { execFileSync } from 'node:child_process';
import { crawlQueries } from '../../adapters/postgres/catalog.js';
import { parseExtractOptions } from '../../adapters/postgres/options.js';
import { crawlScopeOf, inlineQuery } from './floor.js';
import { benchServer } from './generate.js';

const database = process.argv[2];
if (!database) throw new Error('usage: query-times.ts <database>');
const { scope } = await crawlScopeOf(database);
const queries = crawlQueries(parseExtractOptions({}, 'bench'), scope);
const script = [
  "SET search_path = 'pg_catalog', 'public';",
  'SET jit = off;',
  'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;',
  '\\timing on',
  ...queries.flatMap(({ name, sql, params }) => [
    `\\echo ${name}`,
    `COPY (${inlineQuery(sql, params).trim()}) TO STDOUT;`,
  ]),
  'COMMIT;',
].join('\n');
const output = execFileSync(
  'psql',
  [
    '-X',
    '-q',
    '-h',
    benchServer.host,
    '-p',
    String(benchServer.port),
    '-U',
    benchServer.user,
    '-d',
    database,
    '-o',
    '/dev/null',
  ],
  {
    input: script,
    env: { ...process.env, PGPASSWORD: benchServer.password },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  },
);
const totals = new Map<string, number>();
let current = '';
for (const line of output.split('\n')) {
  const time = /^Time: ([\d.]+) ms/.exec(line);
  if (time && current) totals.set(current, (totals.get(current) ?? 0) + Number(time[1]));
  else if (/^[a-z]+$/.test(line)) current = line;
}
for (const [name, ms] of totals) console.log(`${name.padEnd(12)} ${(ms / 1000).toFixed(2)} s`);
console.log(`${'total'.padEnd(12)} ${([...totals.values()].reduce((a, b) => a + b, 0) / 1000).toFixed(2)} s`);
